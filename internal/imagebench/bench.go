// Package imagebench measures the portrait-enhancer technique on a
// 12-megapixel photo next to the vips command-line tool doing the same
// operations on the same file: time per run and peak memory, each tool in
// processes of its own so that the memory figures are clean. It backs
// `florad-bench image`.
package imagebench

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
)

// ChildFlag, as the first argument after the re-executed command's prefix
// (Config.Self), switches the program into one of the benchmark's child
// roles; see ChildMain.
const ChildFlag = "--internal-bench-child"

// MemoryLimit is the ceiling for one 12-megapixel portrait-enhancer run.
const MemoryLimit = 1 << 30

// Config says what to measure.
type Config struct {
	// Self is the command line that starts this program again, up to and
	// excluding ChildFlag: e.g. [os.Executable(), "image"]. The
	// program must hand ChildFlag's arguments to ChildMain.
	Self []string
	// Dir holds the input (when generated), the outputs and the vips
	// intermediates. It must exist.
	Dir string
	// Input is a file to enhance; empty to generate a Width×Height
	// portrait-like JPEG of quality 92 in Dir.
	Input         string
	Width, Height int
	// Runs are measured after Warmup runs that are not, per tool.
	Runs, Warmup int
	// Vips is the vips executable; empty to measure florad alone.
	Vips string
	// Progress, when set, receives a line per run.
	Progress io.Writer
	// Stderr receives the children's error output.
	Stderr io.Writer
}

// Dist summarises samples in milliseconds.
type Dist struct {
	Median  float64   `json:"median"`
	Min     float64   `json:"min"`
	Max     float64   `json:"max"`
	Samples []float64 `json:"samples"`
}

func dist(samples []float64) Dist {
	if len(samples) == 0 {
		return Dist{}
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Dist{Median: med, Min: s[0], Max: s[len(s)-1], Samples: samples}
}

// ToolResult is one tool's figures over the measured runs.
type ToolResult struct {
	Tool string `json:"tool"`
	// WallMS is the time per run: for florad inside its process (read,
	// decode, enhance, encode, write); for vips the sum of the chain's
	// process lifetimes, start-up included.
	WallMS Dist `json:"wall_ms"`
	// CPUMS is user + system CPU time per run. On a shared machine it is
	// steadier than wall time.
	CPUMS Dist `json:"cpu_ms"`
	// PeakRSS is the largest resident set, in bytes, of any process the
	// tool ran: the florad process over all its runs (warm-up included),
	// or the largest single vips call.
	PeakRSS uint64 `json:"peak_rss"`
	// RunPeakRSS is florad's high-water mark within each measured run,
	// when the kernel lets the process reset it.
	RunPeakRSS []uint64 `json:"run_peak_rss,omitempty"`
	// Steps are the vips chain's calls, median per call.
	Steps       []Step `json:"steps,omitempty"`
	OutputBytes int    `json:"output_bytes"`
	OutWidth    int    `json:"out_width"`
	OutHeight   int    `json:"out_height"`
}

// Report is the outcome of Run.
type Report struct {
	Input struct {
		Path      string `json:"path"`
		Width     int    `json:"width"`
		Height    int    `json:"height"`
		Bytes     int64  `json:"bytes"`
		Generated bool   `json:"generated"`
	} `json:"input"`
	// WorkDir held the input (when generated), the outputs and the vips
	// intermediates; the vips command lines name files in it.
	WorkDir    string     `json:"work_dir"`
	Runs       int        `json:"runs"`
	Warmup     int        `json:"warmup"`
	CPUs       int        `json:"cpus"`
	LoadBefore float64    `json:"load_before"`
	LoadAfter  float64    `json:"load_after"`
	Florad     ToolResult `json:"florad"`
	// Vips is nil when vips was not measured; VipsSkipped then says why.
	Vips        *ToolResult `json:"vips,omitempty"`
	VipsSkipped string      `json:"vips_skipped,omitempty"`
	VipsVersion string      `json:"vips_version,omitempty"`
	// VipsStartupMS is `vips --version`: the cost of starting one vips
	// process, paid once per call of the chain.
	VipsStartupMS    *Dist `json:"vips_startup_ms,omitempty"`
	VipsStartupCPUMS *Dist `json:"vips_startup_cpu_ms,omitempty"`
	// VipsLo and VipsHi are the per-band levels thresholds the chain used.
	VipsLo []int `json:"vips_lo,omitempty"`
	VipsHi []int `json:"vips_hi,omitempty"`
	// Ratio is florad's median wall time over vips', CPURatio the same for
	// CPU time; 0 without vips.
	Ratio    float64 `json:"ratio"`
	CPURatio float64 `json:"cpu_ratio"`
	// WarmRatio and WarmCPURatio compare with vips' medians less one
	// process start-up per call: roughly what libvips would cost inside
	// one long-lived process, as florad's runs are.
	WarmRatio    float64 `json:"warm_ratio"`
	WarmCPURatio float64 `json:"warm_cpu_ratio"`
	// MemoryLimit is the peak-RSS ceiling for florad; Pass says it held.
	MemoryLimit uint64 `json:"memory_limit"`
	Pass        bool   `json:"pass"`
}

// Run measures florad's portrait-enhancer and, when cfg.Vips is set, the
// vips chain, alternating one run of each so that both see the same
// background load.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if len(cfg.Self) == 0 || cfg.Dir == "" {
		return nil, errors.New("imagebench: Self and Dir are required")
	}
	if cfg.Runs < 1 || cfg.Warmup < 0 {
		return nil, errors.New("imagebench: runs must be at least 1 and warm-up at least 0")
	}
	progress := cfg.Progress
	if progress == nil {
		progress = io.Discard
	}
	stderr := cfg.Stderr
	if stderr == nil {
		stderr = io.Discard
	}
	rep := &Report{WorkDir: cfg.Dir, Runs: cfg.Runs, Warmup: cfg.Warmup, CPUs: runtime.NumCPU(), MemoryLimit: MemoryLimit}

	input, err := prepareInput(cfg, rep, progress)
	if err != nil {
		return nil, err
	}
	if err := describeInput(rep, input); err != nil {
		return nil, err
	}

	rep.LoadBefore = loadAverage()
	child, err := startPortraitChild(ctx, cfg.Self, input, filepath.Join(cfg.Dir, "florad-out.jpg"), stderr)
	if err != nil {
		return nil, err
	}
	defer child.close()

	chain := newVipsChain(ctx, cfg, rep)

	var (
		fl                  = ToolResult{Tool: "florad portrait-enhancer"}
		flWall, flCPU       []float64
		vWall, vCPU         []float64
		startup, startupCPU []float64
		vPeak               uint64
		runs                []chainRun
	)
	for i := range cfg.Warmup + cfg.Runs {
		measured := i >= cfg.Warmup
		label := "warm-up"
		if measured {
			label = fmt.Sprintf("run %d/%d", i-cfg.Warmup+1, cfg.Runs)
		}
		r, err := child.run()
		if err != nil {
			return nil, err
		}
		fl.PeakRSS = max(fl.PeakRSS, r.LifetimePeakRSS)
		fl.OutputBytes, fl.OutWidth, fl.OutHeight = r.OutBytes, r.OutWidth, r.OutHeight
		if measured {
			flWall, flCPU = append(flWall, ms(r.WallNS)), append(flCPU, ms(r.CPUNS))
			if r.RSSReset {
				fl.RunPeakRSS = append(fl.RunPeakRSS, r.PeakRSS)
			}
		}
		fmt.Fprintf(progress, "%-9s florad %6.0f ms  cpu %6.0f ms  peak %4.0f MiB", label, ms(r.WallNS), ms(r.CPUNS), mib(r.PeakRSS))

		if chain != nil {
			sx, sy := vipsScale(r, rep)
			cr, err := chain.runChain(ctx, input, filepath.Join(cfg.Dir, "vips-out.jpg"), sx, sy)
			if err != nil {
				return nil, err
			}
			wall, cpu, peak := cr.totals()
			vPeak = max(vPeak, peak)
			rep.VipsLo, rep.VipsHi = cr.Lo, cr.Hi
			fmt.Fprintf(progress, "   vips %6.0f ms  cpu %6.0f ms  peak %4.0f MiB", wall, cpu, mib(peak))
			if measured {
				vWall, vCPU = append(vWall, wall), append(vCPU, cpu)
				runs = append(runs, cr)
				st, err := chain.run(ctx, []string{cfg.Vips, "--version"})
				if err != nil {
					return nil, err
				}
				startup, startupCPU = append(startup, ms(st.WallNS)), append(startupCPU, ms(st.CPUNS))
			}
		}
		fmt.Fprintln(progress)
	}
	if err := child.close(); err != nil {
		return nil, fmt.Errorf("florad child: %w", err)
	}
	rep.LoadAfter = loadAverage()

	fl.WallMS, fl.CPUMS = dist(flWall), dist(flCPU)
	rep.Florad = fl
	rep.Pass = fl.PeakRSS > 0 && fl.PeakRSS < MemoryLimit
	if chain != nil {
		v := &ToolResult{Tool: fmt.Sprintf("vips CLI (%d calls)", countCalls(runs[0])), WallMS: dist(vWall), CPUMS: dist(vCPU), PeakRSS: vPeak}
		v.Steps = medianSteps(runs)
		if fi, err := os.Stat(filepath.Join(cfg.Dir, "vips-out.jpg")); err == nil {
			v.OutputBytes = int(fi.Size())
			if w, h, err := imageSize(filepath.Join(cfg.Dir, "vips-out.jpg")); err == nil {
				v.OutWidth, v.OutHeight = w, h
			}
		}
		rep.Vips = v
		sw, sc := dist(startup), dist(startupCPU)
		rep.VipsStartupMS, rep.VipsStartupCPUMS = &sw, &sc
		calls := float64(countCalls(runs[0]))
		rep.Ratio = ratio(fl.WallMS.Median, v.WallMS.Median)
		rep.CPURatio = ratio(fl.CPUMS.Median, v.CPUMS.Median)
		rep.WarmRatio = ratio(fl.WallMS.Median, v.WallMS.Median-calls*sw.Median)
		rep.WarmCPURatio = ratio(fl.CPUMS.Median, v.CPUMS.Median-calls*sc.Median)
	}
	return rep, nil
}

// ratio is a/b, or 0 when b is not positive.
func ratio(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return a / b
}

func countCalls(r chainRun) int { return countSteps(r.Steps) }

// countSteps counts the steps that are vips processes.
func countSteps(steps []Step) int {
	n := 0
	for _, s := range steps {
		if len(s.Argv) > 0 {
			n++
		}
	}
	return n
}

// medianSteps is each chain step's median over the runs, with the argv of
// the last run.
func medianSteps(runs []chainRun) []Step {
	if len(runs) == 0 {
		return nil
	}
	out := slices.Clone(runs[len(runs)-1].Steps)
	for i := range out {
		var wall, cpu []float64
		var peak uint64
		for _, r := range runs {
			if i < len(r.Steps) {
				wall, cpu = append(wall, r.Steps[i].WallMS), append(cpu, r.Steps[i].CPUMS)
				peak = max(peak, r.Steps[i].PeakRSS)
			}
		}
		out[i].WallMS, out[i].CPUMS, out[i].PeakRSS = dist(wall).Median, dist(cpu).Median, peak
	}
	return out
}

func describeInput(rep *Report, path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	w, h, err := imageSize(path)
	if err != nil {
		return err
	}
	rep.Input.Path, rep.Input.Bytes, rep.Input.Width, rep.Input.Height = path, fi.Size(), w, h
	return nil
}

func imageSize(path string) (int, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	cfg, _, err := image.DecodeConfig(f)
	if err != nil {
		return 0, 0, fmt.Errorf("%s: %w", path, err)
	}
	return cfg.Width, cfg.Height, nil
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// ChildMain runs one of the benchmark's child roles; args follow ChildFlag.
//
//	portrait IN OUT   serve florad runs, one per "run" line on stdin
//	exec -- ARGV...   run ARGV and print its wall time, CPU time and peak RSS
func ChildMain(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	switch {
	case len(args) == 3 && args[0] == "portrait":
		return servePortrait(ctx, args[1], args[2], stdin, stdout)
	case len(args) >= 3 && args[0] == "exec" && args[1] == "--":
		return measureExec(ctx, args[2:], stdout, stderr)
	}
	return fmt.Errorf("imagebench child: bad arguments %q", args)
}

// WriteText prints the report as a table.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "portrait-enhancer on %s (%d×%d, %.1f MB%s): %d runs after %d warm-up, %d CPUs, load average %.1f → %.1f\n",
		filepath.Base(r.Input.Path), r.Input.Width, r.Input.Height, float64(r.Input.Bytes)/1e6,
		map[bool]string{true: ", generated", false: ""}[r.Input.Generated], r.Runs, r.Warmup, r.CPUs, r.LoadBefore, r.LoadAfter)
	if r.VipsVersion != "" {
		fmt.Fprintf(&b, "vips: %s\n", r.VipsVersion)
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "%-26s %10s %8s %13s %13s %12s %13s\n", "tool", "median ms", "min ms", "median cpu ms", "peak RSS MiB", "florad/vips", "peak < 1 GiB")
	verdict := "FAIL"
	if r.Pass {
		verdict = "PASS"
	}
	ratio := "n/a"
	if r.Vips != nil {
		ratio = fmt.Sprintf("%.2f", r.Ratio)
	}
	row := func(t *ToolResult, ratio, verdict string) {
		fmt.Fprintf(&b, "%-26s %10.0f %8.0f %13.0f %13.0f %12s %13s\n",
			t.Tool, t.WallMS.Median, t.WallMS.Min, t.CPUMS.Median, mib(t.PeakRSS), ratio, verdict)
	}
	row(&r.Florad, ratio, verdict)
	if r.Vips != nil {
		row(r.Vips, "1.00", "-")
		fmt.Fprintf(&b, "\nratio florad/vips: %.2f wall, %.2f CPU (below 1: florad is faster)\n", r.Ratio, r.CPURatio)
		fmt.Fprintf(&b, "less vips' %d process start-ups (`vips --version`: %.0f ms, cpu %.0f ms each): %.2f wall, %.2f CPU\n",
			countSteps(r.Vips.Steps), r.VipsStartupMS.Median, r.VipsStartupCPUMS.Median, r.WarmRatio, r.WarmCPURatio)
		b.WriteString("\nvips chain, median per call:\n")
		for _, s := range r.Vips.Steps {
			cmd := s.Name
			if len(s.Argv) > 0 {
				cmd = r.shellLine(s.Argv)
			}
			fmt.Fprintf(&b, "  %7.0f ms  cpu %6.0f ms  %4.0f MiB  %s\n", s.WallMS, s.CPUMS, mib(s.PeakRSS), cmd)
		}
		fmt.Fprintf(&b, "levels thresholds per band: lo %v, hi %v\n", r.VipsLo, r.VipsHi)
		fmt.Fprintf(&b, "(files are in the work directory %s)\n", r.WorkDir)
	} else {
		fmt.Fprintf(&b, "\nvips not measured: %s\n", r.VipsSkipped)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// shellLine quotes argv for a shell, with the work directory left out of
// paths so the lines stay readable.
func (r *Report) shellLine(argv []string) string {
	out := make([]string, len(argv))
	for i, a := range argv {
		if r.WorkDir != "" {
			a = strings.ReplaceAll(a, strings.TrimSuffix(r.WorkDir, "/")+"/", "")
		}
		if i == 0 {
			a = filepath.Base(a)
		}
		if a == "" || strings.ContainsAny(a, " []*?'\"$\\") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}

// prepareInput returns the image to enhance: cfg.Input, or a generated
// photo-like JPEG in cfg.Dir.
func prepareInput(cfg Config, rep *Report, progress io.Writer) (string, error) {
	if cfg.Input != "" {
		return cfg.Input, nil
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return "", errors.New("imagebench: give an input or a size")
	}
	input := filepath.Join(cfg.Dir, "input.jpg")
	fmt.Fprintf(progress, "generating a %d×%d JPEG (quality 92)\n", cfg.Width, cfg.Height)
	if err := WriteJPEG(input, Photo(cfg.Width, cfg.Height, 1), 92); err != nil {
		return "", err
	}
	rep.Input.Generated = true
	// The decoded picture is garbage from here on: collect it now rather
	// than during a measured run.
	runtime.GC()
	return input, nil
}

// newVipsChain returns the vips command chain to compare with, or nil (and
// the reason in rep.VipsSkipped) when vips is not measured.
func newVipsChain(ctx context.Context, cfg Config, rep *Report) *vipsChain {
	if cfg.Vips == "" {
		rep.VipsSkipped = "not requested"
		return nil
	}
	if _, err := os.Stat(cfg.Vips); err != nil {
		rep.VipsSkipped = err.Error()
		return nil
	}
	rep.VipsVersion = vipsVersion(ctx, cfg.Vips)
	return &vipsChain{vips: cfg.Vips, dir: cfg.Dir, quality: defaultQuality, run: wrapperExecer(cfg.Self)}
}

// vipsScale is the upscale that gives vips's output florad's size: florad
// caps its upscale for very large inputs.
func vipsScale(r childRun, rep *Report) (float64, float64) {
	if r.OutWidth <= 0 || r.OutHeight <= 0 {
		return 2, 2
	}
	return float64(r.OutWidth) / float64(rep.Input.Width), float64(r.OutHeight) / float64(rep.Input.Height)
}
