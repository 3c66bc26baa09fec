package speedbench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/florad/florad/internal/loadbench"
	"github.com/florad/florad/internal/run"
	"github.com/florad/florad/internal/technique"
)

// StreamsResult is N open streams on one florad process.
type StreamsResult struct {
	Streams int `json:"streams"`
	Runs    int `json:"runs"`
	// Events is how many progress events were written (one run each); each
	// reaches Streams/Runs streams.
	Events    int `json:"events"`
	Delivered int `json:"delivered"`
	Missing   int `json:"missing"`
	// Delivery is the time from just before an event's write began to its
	// arrival at a stream's client.
	Delivery Quantiles `json:"delivery"`
	// RSSOpen is the server process's resident memory with every stream
	// open, RSSPeak its high-water mark over the whole measurement (it also
	// holds this benchmark's bookkeeping; the clients are in a child).
	RSSOpen int64              `json:"rss_open_bytes"`
	RSSPeak int64              `json:"rss_peak_bytes"`
	OpenIn  time.Duration      `json:"open_in"`
	CPU     loadbench.CPUUsage `json:"cpu"`
	Pass    bool               `json:"pass"`
}

// ChildEnv marks the stream-client child process (see ChildMain).
const ChildEnv = "FLORAD_SPEEDBENCH_STREAM_CLIENTS"

// streams opens cfg.Streams streams over cfg.StreamRuns pending runs on one
// SQLite florad, from a child process (a process may hold only so many
// sockets, and the server's memory must be its own), then writes progress
// events to every run in turn, spread over each second, and collects when
// each stream got each event.
func (b *bench) streams(ctx context.Context) (*StreamsResult, error) {
	if len(b.cfg.ChildCommand) == 0 {
		return nil, fmt.Errorf("no child command to run the stream clients")
	}
	raiseFileLimit()
	db, err := b.newDatabase(ctx, DBSQLite)
	if err != nil {
		return nil, err
	}
	defer db.drop()
	f, err := newFlorad(ctx, db, floradOpts{maxStreams: b.cfg.Streams + 10}, true)
	if err != nil {
		return nil, err
	}
	f.start()
	defer f.close()
	if err := loadbench.WaitHealthy(ctx, f.url()); err != nil {
		return nil, err
	}
	ids := make([]string, b.cfg.StreamRuns)
	for i := range ids {
		r, _, err := f.app.Runs.Create(ctx, &run.CreateParams{WorkspaceID: f.wsID, Technique: "prompt-expander", Mode: "async",
			Inputs: []technique.RequestInput{{ID: "prompt", Type: "text", Value: "streamed " + strconv.Itoa(i)}}})
		if err != nil {
			return nil, err
		}
		ids[i] = r.ID
	}

	cmd := exec.CommandContext(ctx, b.cfg.ChildCommand[0], b.cfg.ChildCommand[1:]...)
	cmd.Env = append(os.Environ(), ChildEnv+"=1")
	cmd.Stderr = os.Stderr
	spec, _ := json.Marshal(childSpec{Base: f.url() + pickupPath, Key: f.key, Runs: ids, Streams: b.cfg.Streams})
	cmd.Stdin = bytes.NewReader(spec)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	out := bufio.NewReaderSize(stdout, 1<<20)
	line, err := out.ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "open" {
		return nil, fmt.Errorf("stream clients did not open their streams: %q %v", line, err)
	}
	res := &StreamsResult{Streams: b.cfg.Streams, Runs: len(ids), OpenIn: time.Since(t0)}
	res.RSSOpen, _ = procStatus("VmRSS")

	// Each round writes one progress event to every run, spread evenly
	// over a second.
	rounds := max(int(b.cfg.Duration/time.Second), 1)
	written := make(map[string]time.Time, rounds*len(ids))
	cpu0 := loadbench.TakeCPUSnapshot()
	gap := time.Second / time.Duration(len(ids))
	next := time.Now()
	for p := 1; p <= rounds; p++ {
		for i, id := range ids {
			time.Sleep(time.Until(next))
			next = next.Add(gap)
			at := time.Now()
			if err := f.app.Runs.Progress(ctx, id, p); err != nil {
				return nil, err
			}
			written[strconv.Itoa(i)+" "+strconv.Itoa(p+1)] = at // seq p+1: created is 1
		}
	}
	res.Events = len(written)
	// Let the last events arrive, then ask the child for what it saw.
	time.Sleep(2 * time.Second)
	res.CPU = loadbench.TakeCPUSnapshot().Since(cpu0)
	res.RSSPeak, _ = procStatus("VmHWM")
	if err := syscallSignal(cmd.Process); err != nil {
		return nil, err
	}
	var lat []time.Duration
	for {
		line, err := out.ReadString('\n')
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		// "run seq unixnano"
		parts := strings.Fields(line)
		if len(parts) != 3 {
			continue
		}
		at, ok := written[parts[0]+" "+parts[1]]
		if !ok {
			continue
		}
		ns, _ := strconv.ParseInt(parts[2], 10, 64)
		lat = append(lat, time.Unix(0, ns).Sub(at))
	}
	res.Delivered = len(lat)
	res.Missing = res.Events*(b.cfg.Streams/len(ids)) - res.Delivered
	res.Delivery = quantilesOf(lat)
	res.Pass = res.Missing <= 0 && res.RSSPeak < TargetStreamRSS && res.Delivery.P99 < TargetStreamP99
	b.logf("streams %d over %d runs (open in %v): %d events, %d deliveries (%d missing), delivery p50 %v p99 %v max %v; RSS open %d MiB, peak %d MiB; other CPU %.2f cores",
		res.Streams, res.Runs, res.OpenIn.Round(time.Millisecond), res.Events, res.Delivered, res.Missing,
		res.Delivery.P50, res.Delivery.P99, res.Delivery.Max, res.RSSOpen>>20, res.RSSPeak>>20, res.CPU.Other)
	return res, nil
}

func syscallSignal(p *os.Process) error { return p.Signal(syscall.SIGUSR1) }

type childSpec struct {
	Base    string   `json:"base"`
	Key     string   `json:"key"`
	Runs    []string `json:"runs"`
	Streams int      `json:"streams"`
}

// ChildMain is the stream-client child: it reads a childSpec on stdin,
// opens the streams (round-robin over the runs, 16 at a time), prints
// "open", records the arrival of every progress event, and on SIGUSR1
// prints one "run seq unixnano" line per arrival and exits.
func ChildMain() error {
	raiseFileLimit()
	var spec childSpec
	if err := json.NewDecoder(os.Stdin).Decode(&spec); err != nil {
		return err
	}
	usr1 := make(chan os.Signal, 1)
	notifySignal(usr1)
	type arrival struct {
		run, seq int
		at       int64
	}
	var mu sync.Mutex
	arrivals := make([]arrival, 0, spec.Streams*16)
	tr := &http.Transport{MaxIdleConnsPerHost: -1, DisableKeepAlives: true,
		DialContext: (&net.Dialer{Timeout: 30 * time.Second}).DialContext}
	client := &http.Client{Transport: tr}
	opened := make(chan error, spec.Streams)
	sem := make(chan struct{}, 16)
	for i := range spec.Streams {
		ri := i % len(spec.Runs)
		go func() {
			sem <- struct{}{}
			req, _ := http.NewRequest(http.MethodGet, spec.Base+"/"+spec.Runs[ri]+"/events", nil)
			req.Header.Set("Authorization", "Bearer "+spec.Key)
			resp, err := client.Do(req)
			if err == nil && resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("stream: status %d", resp.StatusCode)
			}
			if err != nil {
				<-sem
				opened <- err
				return
			}
			defer resp.Body.Close()
			sc := bufio.NewScanner(resp.Body)
			first := true
			seq := 0
			for sc.Scan() {
				line := sc.Text()
				switch {
				case strings.HasPrefix(line, "id: "):
					seq, _ = strconv.Atoi(line[4:])
				case line == "event: run.snapshot" && first:
					first = false
					<-sem
					opened <- nil
				case line == "event: run.progress":
					now := time.Now().UnixNano()
					mu.Lock()
					arrivals = append(arrivals, arrival{ri, seq, now})
					mu.Unlock()
				}
			}
		}()
	}
	for range spec.Streams {
		if err := <-opened; err != nil {
			return err
		}
	}
	fmt.Println("open")
	<-usr1
	mu.Lock()
	defer mu.Unlock()
	w := bufio.NewWriterSize(os.Stdout, 1<<20)
	for _, a := range arrivals {
		fmt.Fprintf(w, "%d %d %d\n", a.run, a.seq, a.at)
	}
	return w.Flush()
}

// raiseFileLimit lifts the soft limit on open files to the hard one: each
// stream is a socket on both ends.
func raiseFileLimit() {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil && l.Cur < l.Max {
		l.Cur = l.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}

// procStatus reads a size field (in kB) of /proc/self/status, in bytes.
func procStatus(field string) (int64, error) {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				n, err := strconv.ParseInt(f[0], 10, 64)
				return n << 10, err
			}
		}
	}
	return 0, fmt.Errorf("no %s in /proc/self/status", field)
}

func notifySignal(ch chan os.Signal) { signal.Notify(ch, syscall.SIGUSR1) }
