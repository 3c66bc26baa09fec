package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/florad/florad/internal/imagebench"
)

// cmdImage measures portrait-enhancer on a 12-megapixel JPEG next to
// the vips command-line tool (internal/imagebench). It exits 1 when florad's
// peak memory reaches 1 GiB.
func cmdImage(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	// The benchmark re-executes this binary for its child processes; they
	// are not part of the command's interface.
	if len(args) > 0 && args[0] == imagebench.ChildFlag {
		return imagebench.ChildMain(ctx, args[1:], os.Stdin, stdout, stderr)
	}
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	fs.SetOutput(stderr)
	input := fs.String("input", "", "image to enhance (default: generate a photo-like JPEG, quality 92)")
	size := fs.String("size", "4000x3000", "size of the generated image, WxH")
	runs := fs.Int("runs", 5, "measured runs per tool")
	warmup := fs.Int("warmup", 1, "unmeasured runs per tool first")
	vips := fs.String("vips", "vips", "vips executable to compare with; empty to measure florad alone")
	dir := fs.String("dir", "", "where the temporary directory goes (default /dev/shm when writable, else the system temp dir)")
	keep := fs.Bool("keep", false, "keep the temporary directory (input, outputs) and print its path")
	asJSON := fs.Bool("json", false, "print every figure as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *runs < 1 || *warmup < 0 {
		return &usageError{"runs must be at least 1 and warmup at least 0"}
	}
	w, h, err := parseSize(*size)
	if err != nil {
		return &usageError{"size: " + err.Error()}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	vipsPath := ""
	if *vips != "" {
		if p, err := exec.LookPath(*vips); err == nil {
			vipsPath = p
		} else {
			fmt.Fprintf(stderr, "image: %s not found (Debian: apt-get install libvips-tools); measuring florad alone\n", *vips)
		}
	}
	if *dir == "" {
		*dir = os.TempDir()
		// tmpfs keeps disk writeback out of both tools' timings.
		if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
			if f, err := os.CreateTemp("/dev/shm", "probe"); err == nil {
				f.Close()
				os.Remove(f.Name())
				*dir = "/dev/shm"
			}
		}
	}
	tmp, err := os.MkdirTemp(*dir, "florad-bench-image-")
	if err != nil {
		return err
	}
	if *keep {
		fmt.Fprintln(stderr, "image: files kept in", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}

	rep, err := imagebench.Run(ctx, imagebench.Config{
		Self: []string{self, "image"}, Dir: tmp, Input: *input, Width: w, Height: h,
		Runs: *runs, Warmup: *warmup, Vips: vipsPath, Progress: stderr, Stderr: stderr,
	})
	if err != nil {
		return err
	}
	if err := writeReport(stdout, rep, *asJSON); err != nil {
		return err
	}
	if !rep.Pass {
		return fmt.Errorf("image: florad's peak RSS %d MiB is not under %d MiB", rep.Florad.PeakRSS>>20, imagebench.MemoryLimit>>20)
	}
	return nil
}

func parseSize(s string) (int, int, error) {
	ws, hs, ok := strings.Cut(strings.ToLower(s), "x")
	w, err1 := strconv.Atoi(ws)
	h, err2 := strconv.Atoi(hs)
	if !ok || err1 != nil || err2 != nil || w < 1 || h < 1 || int64(w)*int64(h) > 50_000_000 {
		return 0, 0, fmt.Errorf("%q is not WxH of at most 50 megapixels", s)
	}
	return w, h, nil
}
