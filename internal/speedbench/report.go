package speedbench

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

func passFail(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

// WriteText prints the report as tables.
func (r *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	if len(r.Pickup) > 0 {
		fmt.Fprintln(tw, "pickup\tcreates/s\truns\tto running p50\tp99\tto completed p50\tp99\ttarget (p50)\tother CPU\t\t")
		for _, p := range r.Pickup {
			fmt.Fprintf(tw, "%s\t%.0f\t%d\t%s\t%s\t%s\t%s\t< %s\t%.2f\t%s\t\n", p.DB, p.Rate, p.Runs, ms(p.Running.P50), ms(p.Running.P99),
				ms(p.Completed.P50), ms(p.Completed.P99), ms(p.Target), p.CPU.Other, passFail(p.Pass))
		}
		fmt.Fprintln(tw, "\t\t\t\t\t\t\t\t\t\t")
	}
	if len(r.Throughput) > 0 {
		fmt.Fprintln(tw, "runs/s\tprocesses\truns\tflorad runs/s\tRiver no-op jobs/s\tratio\ttarget\tother CPU (florad/River)\t\t")
		for _, t := range r.Throughput {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f\t%.0f\t%.2f\t≥ %.2f\t%.2f / %.2f\t%s\t\n", t.DB, t.Florad.Workers, t.Florad.Jobs,
				t.Florad.PerSecond, t.River.PerSecond, t.Ratio, TargetRunsRatio, t.Florad.CPU.Other, t.River.CPU.Other, passFail(t.Pass))
		}
		fmt.Fprintln(tw, "\t\t\t\t\t\t\t\t\t")
	}
	if s := r.Streams; s != nil {
		fmt.Fprintln(tw, "streams\truns\tdeliveries\tmissing\tdelivery p50\tp99\tmax\tRSS open\tRSS peak\tother CPU\t\t")
		fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%s\t%s\t%s\t%d MiB\t%d MiB\t%.2f\t%s\t\n", s.Streams, s.Runs, s.Delivered, s.Missing,
			ms(s.Delivery.P50), ms(s.Delivery.P99), ms(s.Delivery.Max), s.RSSOpen>>20, s.RSSPeak>>20, s.CPU.Other, passFail(s.Pass))
		fmt.Fprintln(tw, "\t\t\t\t\t\t\t\t\t\t\t")
	}
	if len(r.Post) > 0 {
		fmt.Fprintln(tw, "POST postgres conns\tflorad req/s\tbaseline req/s\tratio\ttarget\tflorad p99\tbaseline p99\tother CPU (florad/baseline)\t\t")
		for _, p := range r.Post {
			t := "-"
			if p.Target > 0 {
				t = fmt.Sprintf("≥ %.2f", p.Target)
			}
			fmt.Fprintf(tw, "%d\t%.0f\t%.0f\t%.2f\t%s\t%s\t%s\t%.2f / %.2f\t%s\t\n", p.Conns, p.FloradRPS, p.BaselineRPS, p.Ratio, t,
				ms(p.FloradP99), ms(p.BaselineP99), p.FloradOther, p.BaselineOther, passFail(p.Pass))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, s := range r.Skipped {
		fmt.Fprintln(w, "skipped:", s)
	}
	_, err := fmt.Fprintln(w, "all targets:", passFail(r.Pass))
	return err
}
