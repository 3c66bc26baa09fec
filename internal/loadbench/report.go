package loadbench

import (
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Targets of issue 2, item 11.
const (
	PostThroughputTarget = 0.60 // florad POST req/s ≥ 60% of the baseline's
	GetThroughputTarget  = 0.50 // florad GET req/s ≥ 50% of the baseline's
	P99RatioTarget       = 1.5  // florad p99 ≤ 1.5 × the baseline's, same conns
	GetP99Limit          = 10 * time.Millisecond
	GetP99LimitConns     = 32 // the GET p99 limit applies from this many connections
)

// Report is the outcome of a Run.
type Report struct {
	Settings Settings `json:"settings"`
	Rows     []*Row   `json:"rows"`
	Pass     bool     `json:"pass"`
}

// Settings records how the figures were made.
type Settings struct {
	DurationSeconds float64 `json:"duration_seconds"`
	WarmupSeconds   float64 `json:"warmup_seconds"`
	Conns           []int   `json:"conns"`
	Synchronous     string  `json:"sqlite_synchronous"`
	Rounds          int     `json:"rounds"`
	Workers         bool    `json:"workers"`
	AccessLog       bool    `json:"access_log"`
	GetRuns         int     `json:"get_runs"`
	NoiseGateCores  float64 `json:"noise_gate_cores"`
	GOMAXPROCS      int     `json:"gomaxprocs"`
	NumCPU          int     `json:"num_cpu"`
	GoVersion       string  `json:"go_version"`
	Date            string  `json:"date"`
}

func settingsOf(c Config) Settings {
	return Settings{
		DurationSeconds: c.Duration.Seconds(), WarmupSeconds: c.Warmup.Seconds(), Conns: c.Conns,
		Synchronous: c.Synchronous, Rounds: c.Rounds, Workers: c.Workers, AccessLog: c.AccessLog,
		GetRuns: c.GetRuns, NoiseGateCores: c.NoiseGate, GOMAXPROCS: runtime.GOMAXPROCS(0),
		NumCPU: runtime.NumCPU(), GoVersion: runtime.Version(), Date: time.Now().UTC().Format(time.RFC3339),
	}
}

// Row is one scenario at one concurrency level: florad beside its baseline.
type Row struct {
	Scenario        string   `json:"scenario"`
	Conns           int      `json:"conns"`
	Florad          Stats    `json:"florad"`
	Baseline        Stats    `json:"baseline"`
	ThroughputRatio float64  `json:"throughput_ratio"`
	P99Ratio        float64  `json:"p99_ratio"`
	Checks          []*Check `json:"checks"`
	Pass            bool     `json:"pass"`
}

// Check is one target.
type Check struct {
	Name string `json:"name"`
	Want string `json:"want"`
	Got  string `json:"got"`
	Pass bool   `json:"pass"`
}

// Stats summarises the kept window of one server (the round with the median
// throughput when there were several).
type Stats struct {
	Requests   int     `json:"requests"`
	Errors     int     `json:"errors"`
	FirstError string  `json:"first_error,omitempty"`
	Seconds    float64 `json:"seconds"`
	RPS        float64 `json:"rps"`
	P50Ms      float64 `json:"p50_ms"`
	P90Ms      float64 `json:"p90_ms"`
	P99Ms      float64 `json:"p99_ms"`
	MaxMs      float64 `json:"max_ms"`
	// CPUCores is what the process used (server and load generator);
	// CPUMicrosPerRequest divides it by the throughput.
	CPUCores            float64  `json:"cpu_cores"`
	CPUMicrosPerRequest float64  `json:"cpu_us_per_request"`
	OtherCores          *float64 `json:"other_cores,omitempty"`
	Dials               int      `json:"dials"`
	// RoundsRPS and RoundsP99Ms list every round's figures, in order.
	RoundsRPS   []float64 `json:"rounds_rps"`
	RoundsP99Ms []float64 `json:"rounds_p99_ms"`
}

func statsOf(samples []*Sample) Stats {
	if len(samples) == 0 {
		return Stats{}
	}
	sorted := slices.Clone(samples)
	slices.SortFunc(sorted, func(a, b *Sample) int {
		switch ra, rb := a.RPS(), b.RPS(); {
		case ra < rb:
			return -1
		case ra > rb:
			return 1
		}
		return 0
	})
	s := sorted[len(sorted)/2]
	st := Stats{
		Requests: s.Requests, Errors: s.Errors, FirstError: s.FirstError, Seconds: s.Elapsed.Seconds(),
		RPS: s.RPS(), P50Ms: ms(s.Quantile(0.5)), P90Ms: ms(s.Quantile(0.9)), P99Ms: ms(s.Quantile(0.99)),
		MaxMs: ms(s.Quantile(1)), CPUCores: s.CPU.Self, Dials: s.Dials,
	}
	if st.RPS > 0 {
		st.CPUMicrosPerRequest = s.CPU.Self / st.RPS * 1e6
	}
	if s.CPU.Known {
		o := s.CPU.Other
		st.OtherCores = &o
	}
	for _, x := range samples {
		st.RoundsRPS = append(st.RoundsRPS, x.RPS())
		st.RoundsP99Ms = append(st.RoundsP99Ms, ms(x.Quantile(0.99)))
	}
	return st
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// evaluate computes the ratios and checks every target.
func (r *Report) evaluate() {
	r.Pass = true
	for _, row := range r.Rows {
		row.evaluate()
		r.Pass = r.Pass && row.Pass
	}
}

func (row *Row) evaluate() {
	f, b := row.Florad, row.Baseline
	row.ThroughputRatio = pairedRatio(f.RPS, b.RPS, f.RoundsRPS, b.RoundsRPS)
	row.P99Ratio = pairedRatio(f.P99Ms, b.P99Ms, f.RoundsP99Ms, b.RoundsP99Ms)
	want := PostThroughputTarget
	if row.Scenario == ScenarioGet {
		want = GetThroughputTarget
	}
	row.Checks = []*Check{
		{Name: "throughput ratio", Want: fmt.Sprintf("≥ %.2f", want), Got: fmt.Sprintf("%.2f", row.ThroughputRatio),
			Pass: row.ThroughputRatio >= want},
		{Name: "p99 ratio", Want: fmt.Sprintf("≤ %.2f", P99RatioTarget), Got: fmt.Sprintf("%.2f", row.P99Ratio),
			Pass: row.P99Ratio > 0 && row.P99Ratio <= P99RatioTarget},
		{Name: "errors", Want: "0", Got: fmt.Sprintf("florad %d, baseline %d", f.Errors, b.Errors),
			Pass: f.Errors == 0 && b.Errors == 0},
	}
	if row.Scenario == ScenarioGet && row.Conns >= GetP99LimitConns {
		row.Checks = append(row.Checks, &Check{Name: "GET p99", Want: fmt.Sprintf("< %s", GetP99Limit),
			Got: fmt.Sprintf("%.2fms", f.P99Ms), Pass: f.P99Ms > 0 && f.P99Ms < ms(GetP99Limit)})
	}
	row.Pass = true
	for _, c := range row.Checks {
		row.Pass = row.Pass && c.Pass
	}
}

// pairedRatio is f/b. With several rounds it is the median of the rounds'
// own ratios: each round measured both servers back to back, so a ratio
// within a round cancels most of the load that other processes put on the
// machine, which drifts from one round to the next.
func pairedRatio(f, b float64, fRounds, bRounds []float64) float64 {
	if len(fRounds) >= 2 && len(fRounds) == len(bRounds) {
		var ratios []float64
		for i := range fRounds {
			if bRounds[i] > 0 {
				ratios = append(ratios, fRounds[i]/bRounds[i])
			}
		}
		if len(ratios) > 0 {
			slices.Sort(ratios)
			if n := len(ratios); n%2 == 0 {
				return (ratios[n/2-1] + ratios[n/2]) / 2
			}
			return ratios[len(ratios)/2]
		}
	}
	if b <= 0 {
		return 0
	}
	return f / b
}

var scenarioTitles = map[string]string{
	ScenarioPost: "POST create run: florad POST " + floradPostPath + " vs bare insert-run-and-debit transaction",
	ScenarioGet:  "GET poll: florad GET .../runs/{id} (auth + run read) vs bare read of one row by key",
}

// WriteText prints a table per scenario and the verdict.
func (r *Report) WriteText(w io.Writer) error {
	s := r.Settings
	fmt.Fprintf(w, "florad-bench api: %s windows after %s warm-up, %d round(s); SQLite synchronous=%s; workers %s; "+
		"access log %s; GOMAXPROCS=%d, %d CPUs; %s\n",
		time.Duration(s.DurationSeconds*float64(time.Second)), time.Duration(s.WarmupSeconds*float64(time.Second)),
		s.Rounds, s.Synchronous, onOff(s.Workers), onOff(s.AccessLog), s.GOMAXPROCS, s.NumCPU, s.GoVersion)
	var failures []string
	for _, scenario := range []string{ScenarioPost, ScenarioGet} {
		var rows []*Row
		for _, row := range r.Rows {
			if row.Scenario == scenario {
				rows = append(rows, row)
			}
		}
		if len(rows) == 0 {
			continue
		}
		want := PostThroughputTarget
		if scenario == ScenarioGet {
			want = GetThroughputTarget
		}
		fmt.Fprintf(w, "\n%s\n", scenarioTitles[scenario])
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "conns\tflorad req/s\tbaseline req/s\tratio (≥%.2f)\tflorad p50\tflorad p99\tbaseline p99\t"+
			"p99 ratio (≤%.1f)\tCPU µs/req f/b\tother CPU\tresult\t\n", want, P99RatioTarget)
		for _, row := range rows {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%.2f\t%.2fms\t%.2fms\t%.2fms\t%.2f\t%.0f/%.0f\t%s\t%s\t\n",
				row.Conns, thousands(row.Florad.RPS), thousands(row.Baseline.RPS), row.ThroughputRatio,
				row.Florad.P50Ms, row.Florad.P99Ms, row.Baseline.P99Ms, row.P99Ratio,
				row.Florad.CPUMicrosPerRequest, row.Baseline.CPUMicrosPerRequest,
				otherOf(row.Florad, row.Baseline), passFail(row.Pass))
			for _, c := range row.Checks {
				if !c.Pass {
					failures = append(failures, fmt.Sprintf("%s c=%d: %s %s, want %s", strings.ToUpper(scenario),
						row.Conns, c.Name, c.Got, c.Want))
				}
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if n, total := r.noisyWindows(); n > 0 {
		fmt.Fprintf(w, "\nNoise: in %d of %d kept windows other processes used more than %.2f cores (column 'other CPU');\n"+
			"those figures understate what this machine can do, florad and baseline alike.\n", n, total, s.NoiseGateCores)
	}
	if scenarioHasGet(r.Rows) {
		fmt.Fprintf(w, "\nGET p99 must also stay under %s from %d connections.\n", GetP99Limit, GetP99LimitConns)
	}
	if len(failures) == 0 {
		_, err := fmt.Fprintln(w, "\nAll targets met.")
		return err
	}
	fmt.Fprintln(w, "\nMissed targets:")
	for _, f := range failures {
		fmt.Fprintln(w, "  "+f)
	}
	return nil
}

// noisyWindows counts the kept windows that ran beside foreign load.
func (r *Report) noisyWindows() (noisy, total int) {
	for _, row := range r.Rows {
		for _, st := range []Stats{row.Florad, row.Baseline} {
			total++
			if st.OtherCores != nil && *st.OtherCores > r.Settings.NoiseGateCores {
				noisy++
			}
		}
	}
	return noisy, total
}

func scenarioHasGet(rows []*Row) bool {
	return slices.ContainsFunc(rows, func(r *Row) bool { return r.Scenario == ScenarioGet })
}

// otherOf is the larger foreign load of the two windows.
func otherOf(a, b Stats) string {
	if a.OtherCores == nil || b.OtherCores == nil {
		return "?"
	}
	return fmt.Sprintf("%.2f", max(*a.OtherCores, *b.OtherCores))
}

func passFail(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

// thousands formats a rate as an integer grouped by spaces ("12 345"), the
// way reference/limits.md writes them.
func thousands(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(c)
	}
	return b.String()
}
