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
