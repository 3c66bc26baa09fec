package imagebench

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The portrait-enhancer parameters the vips chain mirrors. imageproc keeps
// its own copies unexported (portrait.go, levels.go); TestClipRangeMatchesAutoLevels
// catches a drift of the clip fraction, the one that changes the arithmetic.
const (
	levelsClip     = 0.005 // per channel, at each end
	sharpenSigma   = 1.0
	sharpenAmount  = 0.6
	defaultQuality = 90
)

// execResult is what the exec wrapper reports about one command.
type execResult struct {
	WallNS   int64  `json:"wall_ns"`
	CPUNS    int64  `json:"cpu_ns"`
	MaxRSS   uint64 `json:"max_rss"`
	ExitCode int    `json:"exit_code"`
}

// measureExec runs argv, sends its output to stderr, and prints an
// execResult as JSON on stdout. It runs in a fresh process of its own
// (ChildFlag exec): ru_maxrss of a child includes its parent's peak on
// Linux, and this wrapper's peak is a few MiB where the harness's is not.
func measureExec(ctx context.Context, argv []string, stdout, stderr io.Writer) error {
	if len(argv) == 0 {
		return errors.New("exec: no command")
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = stderr, stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return err
	}
	cpu, rss := exitUsage(cmd.ProcessState)
	return json.NewEncoder(stdout).Encode(execResult{
		WallNS: wall.Nanoseconds(), CPUNS: cpu.Nanoseconds(), MaxRSS: rss, ExitCode: cmd.ProcessState.ExitCode(),
	})
}

// Step is one measured command of the vips chain, or the harness's own
// arithmetic between them.
type Step struct {
	Name   string   `json:"name"`
	Argv   []string `json:"argv,omitempty"`
	WallMS float64  `json:"wall_ms"`
	CPUMS  float64  `json:"cpu_ms"`
	// PeakRSS is the command's resident high-water mark in bytes.
	PeakRSS uint64 `json:"peak_rss"`
}

// execer runs one command and measures it.
type execer func(ctx context.Context, argv []string) (execResult, error)

// wrapperExecer measures argv through a fresh process of this program
// (self + ChildFlag exec -- argv), so the peak RSS is the command's own.
func wrapperExecer(self []string) execer {
	return func(ctx context.Context, argv []string) (execResult, error) {
		args := append(append([]string(nil), self[1:]...), ChildFlag, "exec", "--")
		cmd := exec.CommandContext(ctx, self[0], append(args, argv...)...)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		var r execResult
		if err := cmd.Run(); err != nil {
			return r, fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, tail(errOut.String()))
		}
		if err := json.Unmarshal(out.Bytes(), &r); err != nil {
			return r, fmt.Errorf("%s: wrapper answered %q: %w", strings.Join(argv, " "), tail(out.String()), err)
		}
		if r.ExitCode != 0 {
			return r, fmt.Errorf("%s: exit status %d: %s", strings.Join(argv, " "), r.ExitCode, tail(errOut.String()))
		}
		return r, nil
	}
}

func tail(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 500 {
		s = "…" + s[len(s)-500:]
	}
	return s
}

// vipsChain is portrait-enhancer spelled as vips command-line calls. The
// vips CLI runs one operation per process, so intermediates go through .v
// files (vips' native uncompressed format, memory-mapped on load) in dir:
//
//	vips hist_find IN hist.v                  decode, per-band histograms
//	(harness) clip 0.5% at each end of each band's histogram → lo, hi
//	vips linear --uchar IN lev.v A -- B       decode again, per-band stretch
//	vips sharpen lev.v sh.v --sigma 1 --x1 0 --m1 0.6 --m2 0.6 --y2 100 --y3 100
//	vips resize sh.v OUT[Q=90,subsample-mode=on] 2 --kernel lanczos3
//
// Decoding twice is cheaper than a third process that would write the
// decoded image out. The thresholds are read from vips' histogram by the
// harness because `vips percent` cannot give them: it normalises the
// cumulative histogram to 256 levels, so it resolves only steps of ~0.4%
// and answers 0.5%/99.5% with the wrong bins.
type vipsChain struct {
	vips    string
	dir     string
	quality int
	run     execer
}

// chainRun is one pass of the chain.
type chainRun struct {
	Steps []Step
	// Lo and Hi are the per-band levels thresholds that were applied.
	Lo, Hi []int
}

func (r chainRun) totals() (wallMS, cpuMS float64, peak uint64) {
	for _, s := range r.Steps {
		wallMS += s.WallMS
		cpuMS += s.CPUMS
		peak = max(peak, s.PeakRSS)
	}
	return wallMS, cpuMS, peak
}

func (c *vipsChain) runChain(ctx context.Context, input, output string, scaleX, scaleY float64) (chainRun, error) {
	var r chainRun
	step := func(name string, argv ...string) error {
		argv = append([]string{c.vips}, argv...)
		res, err := c.run(ctx, argv)
		if err != nil {
			return err
		}
		r.Steps = append(r.Steps, Step{Name: name, Argv: argv, WallMS: ms(res.WallNS), CPUMS: ms(res.CPUNS), PeakRSS: res.MaxRSS})
		return nil
	}
	hist := filepath.Join(c.dir, "vips-hist.v")
	lev := filepath.Join(c.dir, "vips-levels.v")
	sharp := filepath.Join(c.dir, "vips-sharpened.v")
	defer os.Remove(lev)
	defer os.Remove(sharp)

	if err := step("hist_find", "hist_find", input, hist); err != nil {
		return r, err
	}
	start := time.Now()
	cpu0, _ := processCPU()
	a, b, lo, hi, err := levelsFromVipsHist(hist)
	if err != nil {
		return r, err
	}
	cpu1, _ := processCPU()
	r.Lo, r.Hi = lo, hi
	r.Steps = append(r.Steps, Step{Name: "thresholds (harness)", WallMS: ms(time.Since(start).Nanoseconds()), CPUMS: ms((cpu1 - cpu0).Nanoseconds())})

	// Options go before the "--" that lets the negative offsets through
	// as a positional argument.
	if err := step("linear", "linear", "--uchar", input, lev, floats(a), "--", floats(b)); err != nil {
		return r, err
	}
	if err := step("sharpen", "sharpen", lev, sharp,
		"--sigma", num(sharpenSigma), "--x1", "0", "--m1", num(sharpenAmount), "--m2", num(sharpenAmount),
		"--y2", "100", "--y3", "100"); err != nil {
		return r, err
	}
	target := fmt.Sprintf("%s[Q=%d,subsample-mode=on]", output, c.quality)
	if err := step("resize", "resize", sharp, target, num(scaleX), "--vscale", num(scaleY), "--kernel", "lanczos3"); err != nil {
		return r, err
	}
	return r, nil
}

func ms(ns int64) float64 { return float64(ns) / 1e6 }

func num(v float64) string { return strconv.FormatFloat(v, 'g', 10, 64) }

func floats(vs []float64) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = num(v)
	}
	return strings.Join(s, " ")
}

// levelsFromVipsHist reads the histogram vips hist_find wrote and returns
// the per-band linear coefficients (out = a·in + b) of portrait-enhancer's
// auto-levels, with the thresholds behind them. An alpha band (the second
// of two, the fourth of four) is passed through.
func levelsFromVipsHist(path string) (a, b []float64, lo, hi []int, err error) {
	hists, err := readVipsHist(path)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	a, b, lo, hi = levelsFromHists(hists)
	return a, b, lo, hi, nil
}

// levelsFromHists is levelsFromVipsHist on histograms in memory.
func levelsFromHists(hists [][]uint64) (a, b []float64, lo, hi []int) {
	for band, h := range hists {
		l, u, ok := clipRange(h)
		alpha := (len(hists) == 2 && band == 1) || (len(hists) == 4 && band == 3)
		if !ok || alpha {
			l, u = 0, 255
		}
		scale := 255 / float64(u-l)
		a, b = append(a, scale), append(b, -float64(l)*scale)
		lo, hi = append(lo, l), append(hi, u)
	}
	return a, b, lo, hi
}

// clipRange mirrors imageproc's levelsLUT: lo is the first value whose
// cumulative count exceeds the clip budget from below, hi the same from
// above. ok is false when the range collapses and the band stays as it is.
func clipRange(hist []uint64) (lo, hi int, ok bool) {
	var total uint64
	for _, n := range hist {
		total += n
	}
	if total == 0 || len(hist) == 0 {
		return 0, len(hist) - 1, false
	}
	clip := uint64(float64(total) * levelsClip)
	lo, hi = 0, len(hist)-1
	for cum := hist[0]; lo < len(hist)-1 && cum <= clip; cum += hist[lo] {
		lo++
	}
	for cum := hist[hi]; hi > 0 && cum <= clip; cum += hist[hi] {
		hi--
	}
	return lo, hi, hi > lo
}

// readVipsHist reads a 256×1 uint or int histogram in vips' native .v
// format: a 64-byte header (magic, then little-endian int32 width, height,
// bands, bits per sample, band format) followed by band-interleaved samples.
func readVipsHist(path string) ([][]uint64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(data) < 64 || !bytes.Equal(data[:4], []byte{0xb6, 0xa6, 0xf2, 0x08}) {
		return nil, fmt.Errorf("%s: not a little-endian vips image", path)
	}
	le := binary.LittleEndian
	w, h, bands, format := int(le.Uint32(data[4:])), int(le.Uint32(data[8:])), int(le.Uint32(data[12:])), le.Uint32(data[20:])
	const vipsUint, vipsInt = 4, 5
	if w != 256 || h != 1 || bands < 1 || bands > 4 || (format != vipsUint && format != vipsInt) {
		return nil, fmt.Errorf("%s: %dx%d %d-band format %d is not an 8-bit image's histogram", path, w, h, bands, format)
	}
	if len(data) < 64+4*w*bands {
		return nil, fmt.Errorf("%s: truncated", path)
	}
	hists := make([][]uint64, bands)
	for band := range hists {
		hists[band] = make([]uint64, w)
		for x := range w {
			hists[band][x] = uint64(le.Uint32(data[64+4*(x*bands+band):]))
		}
	}
	return hists, nil
}

// vipsVersion is `vips --version`, e.g. "vips-8.14.1".
func vipsVersion(ctx context.Context, vips string) string {
	out, err := exec.CommandContext(ctx, vips, "--version").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}
