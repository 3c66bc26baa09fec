package loadbench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Target is one kind of request against one server.
type Target struct {
	Method string
	// URL is the URL of worker w's n-th request.
	URL func(w, n int) string
	// Body is the body of worker w's n-th request; nil for none.
	Body func(w, n int) []byte
	// Header is sent with every request.
	Header http.Header
	// WantStatus is the status a successful request gets; anything else
	// counts as an error.
	WantStatus int
}

// Sample is what one measurement saw.
type Sample struct {
	// Requests completed successfully inside the measured window.
	Requests int
	// Errors are failed requests (transport errors or a status other than
	// WantStatus) inside the window.
	Errors     int
	FirstError string
	// Elapsed runs from the start of the window until the last request
	// started inside it returned.
	Elapsed time.Duration
	// Latencies of the successful requests, sorted.
	Latencies []time.Duration
	// Dials counts the TCP connections opened, warm-up included; with
	// keep-alive working it equals the number of connections.
	Dials int
	// CPU is the machine's CPU use during the window.
	CPU CPUUsage
}

// RPS is the throughput of successful requests.
func (s *Sample) RPS() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Requests) / s.Elapsed.Seconds()
}

// Quantile returns the q-quantile latency (nearest rank); 0 without data.
func (s *Sample) Quantile(q float64) time.Duration { return quantile(s.Latencies, q) }

func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// Measure drives t closed-loop from conns goroutines, each with a keep-alive
// connection of its own: warm-up first (connections opened, caches and pools
// filled), then a window of the given duration. A request counts when it
// starts inside the window; the window ends when the last of those returns,
// so no request is cut short and none is half counted.
func Measure(ctx context.Context, t Target, conns int, warmup, duration time.Duration) (*Sample, error) {
	if conns < 1 {
		return nil, errors.New("conns must be at least 1")
	}
	var dials atomic.Int64
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	type result struct {
		lat      []time.Duration
		errs     int
		firstErr string
		end      time.Time
	}
	results := make([]result, conns)

	start := time.Now().Add(warmup)
	end := start.Add(duration)
	cpuStart := make(chan CPUSnapshot, 1)
	cpuTimer := time.AfterFunc(warmup, func() { cpuStart <- TakeCPUSnapshot() })

	var wg sync.WaitGroup
	for w := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// One transport per worker, capped at one connection: the
			// server sees exactly conns connections, like wrk -c.
			tr := &http.Transport{
				Proxy: nil,
				DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
					dials.Add(1)
					return dialer.DialContext(ctx, network, addr)
				},
				MaxIdleConns:        1,
				MaxIdleConnsPerHost: 1,
				MaxConnsPerHost:     1,
				DisableCompression:  true,
			}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
			res := &results[w]
			res.lat = make([]time.Duration, 0, 1024)
			for n := 0; ; n++ {
				t0 := time.Now()
				if !t0.Before(end) || ctx.Err() != nil {
					return
				}
				err := do(ctx, client, &t, w, n)
				t1 := time.Now()
				if t0.Before(start) {
					continue
				}
				res.end = t1
				if err != nil {
					if res.errs == 0 {
						res.firstErr = err.Error()
					}
					res.errs++
					continue
				}
				res.lat = append(res.lat, t1.Sub(t0))
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		cpuTimer.Stop()
		return nil, err
	}
	if cpuTimer.Stop() {
		// A timer late by more than a tiny window: count from now.
		cpuStart <- TakeCPUSnapshot()
	}
	cpu0 := <-cpuStart

	s := &Sample{Dials: int(dials.Load())}
	last := start
	total := 0
	for _, r := range results {
		total += len(r.lat)
	}
	s.Latencies = make([]time.Duration, 0, total)
	for _, r := range results {
		s.Latencies = append(s.Latencies, r.lat...)
		s.Errors += r.errs
		if s.FirstError == "" {
			s.FirstError = r.firstErr
		}
		if r.end.After(last) {
			last = r.end
		}
	}
	s.CPU = TakeCPUSnapshot().Since(cpu0)
	slices.Sort(s.Latencies)
	s.Requests = len(s.Latencies)
	s.Elapsed = last.Sub(start)
	return s, nil
}

// do sends one request and reads the whole response.
func do(ctx context.Context, client *http.Client, t *Target, w, n int) error {
	var body io.Reader
	if t.Body != nil {
		body = bytes.NewReader(t.Body(w, n))
	}
	req, err := http.NewRequestWithContext(ctx, t.Method, t.URL(w, n), body)
	if err != nil {
		return err
	}
	for k, v := range t.Header {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	// Read to the end so the connection goes back for reuse.
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != t.WantStatus {
		return fmt.Errorf("%s %s: status %d, want %d", t.Method, req.URL.Path, resp.StatusCode, t.WantStatus)
	}
	return nil
}
