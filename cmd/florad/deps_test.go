package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestProductBinaryLeavesBenchmarksOut checks that florad does not link the
// benchmark harnesses: they are cmd/florad-bench's, and their code (load
// generators, baseline servers, vips drivers) has no place in what is
// deployed.
func TestProductBinaryLeavesBenchmarksOut(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH to list the binary's packages")
	}
	out, err := exec.Command(goTool, "list", "-deps", "github.com/florad/florad/cmd/florad").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 || !slices.Contains(deps, "github.com/florad/florad/internal/app") {
		t.Fatalf("go list -deps gave an implausible package list: %q", deps)
	}
	for _, bench := range []string{"github.com/florad/florad/internal/loadbench", "github.com/florad/florad/internal/imagebench",
		"github.com/florad/florad/internal/speedbench", "github.com/florad/florad/internal/providerbench",
		"github.com/florad/florad/internal/provider/providerfake"} {
		if slices.Contains(deps, bench) {
			t.Errorf("cmd/florad links %s; the benchmarks belong to cmd/florad-bench", bench)
		}
	}
}
