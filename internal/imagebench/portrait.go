package imagebench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/florad/florad/internal/processor"
	"github.com/florad/florad/internal/technique"
	"github.com/florad/florad/techniques"
)

// TechniqueFile is the built-in technique the benchmark runs.
const TechniqueFile = "portrait-enhancer.yaml"

// Portrait runs the built-in portrait-enhancer technique on image bytes,
// through the same parsed definition and processor a server uses, so the
// benchmark follows the YAML (its ops, format and quality) rather than a copy
// of them.
type Portrait struct {
	step technique.Step
	proc processor.Processor
}

// LoadPortrait parses the embedded portrait-enhancer definition.
func LoadPortrait() (*Portrait, error) {
	data, err := techniques.FS.ReadFile(TechniqueFile)
	if err != nil {
		return nil, err
	}
	models := processor.Registry{"image.pipeline": processor.ImagePipeline{}}
	t, err := technique.Parse(TechniqueFile, data, models)
	if err != nil {
		return nil, err
	}
	// The benchmark feeds one image to one step; a graph with more steps
	// would need the engine, and its figures would no longer compare with
	// a single vips chain.
	if len(t.Steps) != 1 || t.Steps[0].Model != "image.pipeline" {
		return nil, fmt.Errorf("%s: the benchmark expects one image.pipeline step, found %d steps", TechniqueFile, len(t.Steps))
	}
	return &Portrait{step: t.Steps[0], proc: models["image.pipeline"]}, nil
}

// Run enhances one encoded image and returns the encoded result.
func (p *Portrait) Run(ctx context.Context, data []byte) ([]byte, error) {
	out, err := p.proc.Run(ctx, &processor.Call{
		Inputs: map[string]processor.Value{"image": {Type: technique.TypeImageURL, Data: data}},
		Params: p.step.Params,
	})
	if err != nil {
		return nil, err
	}
	return out["image"].Data, nil
}

// childRun is what the florad child reports for one run.
type childRun struct {
	WallNS int64 `json:"wall_ns"`
	CPUNS  int64 `json:"cpu_ns"`
	// PeakRSS is the process's resident high-water mark over this run when
	// RSSReset, otherwise since the process started; 0 when unknown.
	PeakRSS uint64 `json:"peak_rss"`
	// LifetimePeakRSS is the high-water mark since the process started.
	LifetimePeakRSS uint64 `json:"lifetime_peak_rss"`
	RSSReset        bool   `json:"rss_reset"`
	OutWidth        int    `json:"out_width"`
	OutHeight       int    `json:"out_height"`
	OutBytes        int    `json:"out_bytes"`
	Err             string `json:"error,omitempty"`
}

// servePortrait is the florad side of the benchmark, run in a process of
// its own so that its memory high-water mark is its alone. For each "run"
// line on in it enhances the input file into the output file once and
// answers with one JSON line; it returns at EOF.
//
// The timed span is read file → decode → enhance → encode → write file, the
// same span the vips chain covers, but without process start-up: florad
// serves many runs per process.
func servePortrait(ctx context.Context, input, output string, in io.Reader, out io.Writer) error {
	p, err := LoadPortrait()
	if err != nil {
		return err
	}
	var lifetime uint64
	sc := bufio.NewScanner(in)
	enc := json.NewEncoder(out)
	for sc.Scan() {
		if cmd := strings.TrimSpace(sc.Text()); cmd != "run" {
			return fmt.Errorf("child: unknown command %q", cmd)
		}
		// Fold the high-water mark so far into the lifetime peak before
		// resetting it, so both figures survive the reset.
		if hwm, ok := peakRSS(); ok {
			lifetime = max(lifetime, hwm)
		}
		reset := resetPeakRSS()
		cpu0, _ := processCPU()
		start := time.Now()

		r := childRun{RSSReset: reset}
		res, err := runOnce(ctx, p, input, output)
		r.WallNS = time.Since(start).Nanoseconds()
		cpu1, _ := processCPU()
		r.CPUNS = (cpu1 - cpu0).Nanoseconds()
		if hwm, ok := peakRSS(); ok {
			lifetime = max(lifetime, hwm)
			r.PeakRSS = hwm
		}
		r.LifetimePeakRSS = lifetime
		if err != nil {
			r.Err = err.Error()
		} else {
			r.OutBytes = len(res)
			if cfg, _, err := image.DecodeConfig(bytes.NewReader(res)); err == nil {
				r.OutWidth, r.OutHeight = cfg.Width, cfg.Height
			}
		}
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	return sc.Err()
}

func runOnce(ctx context.Context, p *Portrait, input, output string) ([]byte, error) {
	data, err := os.ReadFile(input)
	if err != nil {
		return nil, err
	}
	res, err := p.Run(ctx, data)
	if err != nil {
		return nil, err
	}
	return res, os.WriteFile(output, res, 0o644)
}

// portraitChild is the parent's handle on a running servePortrait.
type portraitChild struct {
	proc   *exec.Cmd
	stdin  io.WriteCloser
	lines  *bufio.Scanner
	closed bool
}

func startPortraitChild(ctx context.Context, self []string, input, output string, stderr io.Writer) (*portraitChild, error) {
	args := append(append([]string(nil), self[1:]...), ChildFlag, "portrait", input, output)
	cmd := exec.CommandContext(ctx, self[0], args...)
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	return &portraitChild{proc: cmd, stdin: stdin, lines: sc}, nil
}

func (c *portraitChild) run() (childRun, error) {
	var r childRun
	if _, err := io.WriteString(c.stdin, "run\n"); err != nil {
		return r, fmt.Errorf("florad child: %w", err)
	}
	if !c.lines.Scan() {
		err := c.lines.Err()
		if err == nil {
			err = errors.New("exited without an answer")
		}
		return r, fmt.Errorf("florad child: %w", err)
	}
	if err := json.Unmarshal(c.lines.Bytes(), &r); err != nil {
		return r, fmt.Errorf("florad child: %w", err)
	}
	if r.Err != "" {
		return r, fmt.Errorf("florad child: %s", r.Err)
	}
	return r, nil
}

// close ends the child and waits for it; calls after the first do nothing.
func (c *portraitChild) close() error {
	if c.closed {
		return nil
	}
	c.closed = true
	c.stdin.Close()
	return c.proc.Wait()
}
