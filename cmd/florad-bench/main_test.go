package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestUsageAndBadArguments(t *testing.T) {
	ctx := context.Background()
	var out bytes.Buffer
	if err := run(ctx, nil, &out, &out); err != nil || !strings.Contains(out.String(), "florad-bench api") {
		t.Fatalf("no arguments: err %v, output %q; want the usage", err, out.String())
	}
	for _, args := range [][]string{
		{"bench"},
		{"api", "extra"},
		{"api", "--conns", "0"},
		{"api", "--scenarios", "delete"},
		{"image", "--size", "0x0"},
		{"image", "--runs", "0"},
		{"speed", "extra"},
		{"speed", "--conns", "0"},
		{"speed", "--scenarios", "warp"},
	} {
		var ue *usageError
		if err := run(ctx, args, &out, &out); !errors.As(err, &ue) {
			t.Errorf("%q: got %v, want a usage error", args, err)
		}
	}
}

// TestImageEndToEnd builds florad-bench and measures a small generated
// photo: the harness re-executes the binary as "florad-bench image" with
// imagebench's child flag, so this checks that path through the real
// command line.
func TestImageEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "florad-bench")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "image", "--size", "320x240", "--runs", "1", "--warmup", "0", "--vips", "", "--dir", t.TempDir(), "--json")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("florad-bench image: %v\n%s", err, stderr.String())
	}
	var rep struct {
		Pass bool `json:"pass"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("output is not the JSON report: %v\n%s", err, out)
	}
	if !rep.Pass {
		t.Fatalf("a 320x240 photo missed the memory target:\n%s", out)
	}
}

// TestSpeedEndToEnd builds florad-bench and runs 'speed' small, on SQLite
// (and PostgreSQL when FLORA_TEST_DATABASE_URL is set): the stream clients
// run as a child re-executing the binary, so this checks that path, and
// every measurement must see all its runs, jobs and deliveries. Targets
// are not asserted: at this size and on a shared machine they mean nothing.
func TestSpeedEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "florad-bench")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "speed", "--duration", "1s", "--create-rate", "20", "--runs", "40",
		"--streams", "60", "--stream-runs", "3", "--conns", "1", "--json")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var exit *exec.ExitError
	if err != nil && (!errors.As(err, &exit) || exit.ExitCode() != 1) {
		t.Fatalf("florad-bench speed: %v\n%s", err, stderr.String())
	}
	var rep struct {
		Pickup []struct {
			DB     string `json:"db"`
			Runs   int    `json:"runs"`
			Errors int    `json:"errors"`
		} `json:"pickup"`
		Throughput []struct {
			Florad struct {
				PerSecond float64 `json:"per_second"`
			} `json:"florad"`
			River struct {
				PerSecond float64 `json:"per_second"`
			} `json:"river"`
		} `json:"throughput"`
		Streams struct {
			Delivered int `json:"delivered"`
			Missing   int `json:"missing"`
			RSS       int `json:"rss_open_bytes"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("output is not the JSON report: %v\n%s\n%s", err, out, stderr.String())
	}
	if len(rep.Pickup) == 0 || len(rep.Throughput) != len(rep.Pickup) {
		t.Fatalf("missing measurements:\n%s", out)
	}
	for _, p := range rep.Pickup {
		if p.Runs == 0 || p.Errors > 0 {
			t.Errorf("pickup on %s: %d runs, %d errors", p.DB, p.Runs, p.Errors)
		}
	}
	for _, tp := range rep.Throughput {
		if tp.Florad.PerSecond <= 0 || tp.River.PerSecond <= 0 {
			t.Errorf("throughput: %+v", tp)
		}
	}
	// 1 round of one event per run, each to 60/3 streams.
	if rep.Streams.Delivered != 3*20 || rep.Streams.Missing != 0 || rep.Streams.RSS <= 0 {
		t.Errorf("streams: %+v", rep.Streams)
	}
}
