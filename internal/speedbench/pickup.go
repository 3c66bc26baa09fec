package speedbench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/florad/florad/internal/loadbench"
	"github.com/florad/florad/internal/run"
)

// PickupResult is the time a trivial run waits after its POST was
// answered: until it is running, and until it is completed.
type PickupResult struct {
	DB        string             `json:"db"`
	Rate      float64            `json:"creates_per_second"`
	Runs      int                `json:"runs"`
	Errors    int                `json:"errors"`
	Running   Quantiles          `json:"to_running"`
	Completed Quantiles          `json:"to_completed"`
	Target    time.Duration      `json:"target_running_p50"`
	CPU       loadbench.CPUUsage `json:"cpu"`
	Pass      bool               `json:"pass"`
}

// Quantiles of a set of durations.
type Quantiles struct {
	P50 time.Duration `json:"p50"`
	P99 time.Duration `json:"p99"`
	Max time.Duration `json:"max"`
}

func quantilesOf(d []time.Duration) Quantiles {
	if len(d) == 0 {
		return Quantiles{}
	}
	slices.Sort(d)
	at := func(q float64) time.Duration {
		i := int(q*float64(len(d))+0.999999) - 1
		return d[min(max(i, 0), len(d)-1)]
	}
	return Quantiles{P50: at(0.5), P99: at(0.99), Max: d[len(d)-1]}
}

// pickupPath is the trivial technique: one text template step.
const pickupPath = "/api/v1/techniques/prompt-expander/runs"

// pickup creates runs over HTTP at a steady rate, open loop, for one
// window, each followed by this process's stream hub (an in-process
// subscription opened as soon as the POST is answered): the time from
// the answer to run.started is the pickup, to run.completed the whole
// overhead. Worker and API are one process (on PostgreSQL its River
// client LISTENs).
func (b *bench) pickup(ctx context.Context, kind string) (*PickupResult, error) {
	db, err := b.newDatabase(ctx, kind)
	if err != nil {
		return nil, err
	}
	defer db.drop()
	f, err := newFlorad(ctx, db, floradOpts{workers: true, concurrency: b.cfg.Concurrency}, true)
	if err != nil {
		return nil, err
	}
	f.start()
	defer f.close()
	if err := loadbench.WaitHealthy(ctx, f.url()); err != nil {
		return nil, err
	}

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}
	res := &PickupResult{DB: kind, Rate: b.cfg.CreateRate, Target: TargetPickupSQLite}
	if kind == DBPostgres {
		res.Target = TargetPickupPostgres
	}
	var (
		mu            sync.Mutex
		toRun, toDone []time.Duration
		wg            sync.WaitGroup
		firstErr      error
	)
	warmup := time.Second
	start := time.Now()
	measureFrom := start.Add(warmup)
	end := measureFrom.Add(b.cfg.Duration)
	every := time.Duration(float64(time.Second) / b.cfg.CreateRate)
	var cpu0 loadbench.CPUSnapshot
	tick := time.NewTicker(every)
	defer tick.Stop()
	n := 0
	for now := range tick.C {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if !now.Before(end) {
			break
		}
		if cpu0.At.IsZero() && !now.Before(measureFrom) {
			cpu0 = loadbench.TakeCPUSnapshot()
		}
		counted := !now.Before(measureFrom)
		n++
		wg.Go(func() {
			running, done, err := b.onePickup(ctx, f, client, n)
			mu.Lock()
			defer mu.Unlock()
			if !counted {
				return
			}
			if err != nil {
				res.Errors++
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			toRun = append(toRun, running)
			toDone = append(toDone, done)
		})
	}
	wg.Wait()
	res.CPU = loadbench.TakeCPUSnapshot().Since(cpu0)
	res.Runs = len(toRun)
	res.Running, res.Completed = quantilesOf(toRun), quantilesOf(toDone)
	res.Pass = res.Errors == 0 && res.Runs > 0 && res.Running.P50 < res.Target
	b.logf("pickup %-8s %d runs at %.0f/s: running p50 %v p99 %v, completed p50 %v p99 %v, errors %d (%v), other CPU %.2f cores",
		kind, res.Runs, res.Rate, res.Running.P50, res.Running.P99, res.Completed.P50, res.Completed.P99, res.Errors, firstErr, res.CPU.Other)
	return res, nil
}

// onePickup creates one run and follows it to its end.
func (b *bench) onePickup(ctx context.Context, f *florad, client *http.Client, n int) (running, done time.Duration, err error) {
	body := `{"inputs":[{"id":"prompt","type":"text","value":"a lighthouse at dawn, pickup ` + strconv.Itoa(n) + `"}],"mode":"async"}`
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.url()+pickupPath, bytes.NewReader([]byte(body)))
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+f.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	answered := time.Now()
	if err != nil {
		return 0, 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, 0, fmt.Errorf("POST: status %d: %s", resp.StatusCode, raw)
	}
	var out struct {
		RunID string `json:"run_id"`
	}
	if err := json.Unmarshal(raw, &out); err != nil || out.RunID == "" {
		return 0, 0, fmt.Errorf("POST: no run id in %s", raw)
	}
	sub := f.app.Runs.Subscribe(out.RunID, 0)
	defer sub.Close()
	wait, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		events, err := sub.Next(wait)
		if err != nil {
			return 0, 0, fmt.Errorf("run %s: %w", out.RunID, err)
		}
		at := time.Since(answered)
		for _, e := range events {
			switch {
			case e.Type == run.EventStarted && running == 0:
				running = at
			case e.Final():
				if e.Type != run.EventCompleted {
					return 0, 0, fmt.Errorf("run %s ended %s", out.RunID, e.Type)
				}
				return running, at, nil
			}
		}
	}
}
