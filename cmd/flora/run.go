package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/florad/florad/client"
)

// inputFlags collects repeated --input ID=VALUE flags.
type inputFlags []string

func (f *inputFlags) String() string     { return strings.Join(*f, ",") }
func (f *inputFlags) Set(v string) error { *f = append(*f, v); return nil }

// runOutput is what `flora run --json` prints: the run, and where each
// downloaded output went.
type runOutput struct {
	*client.Run
	Downloaded map[string]string `json:"downloaded,omitempty"`
}

// cmdRun starts a run. Inputs come as ID=VALUE: a URL, an asset id or
// text as it is, or @FILE, which uploads a media file as an asset (or, for
// a text input, reads the file as the text). With --wait it follows the
// run's event stream with a progress bar on stderr until it ends, and with
// --download saves the outputs.
func cmdRun(ctx context.Context, x *cli, fs *flag.FlagSet, args []string) error {
	var inputs inputFlags
	fs.Var(&inputs, "input", "an input as ID=VALUE or ID=@FILE; repeat for each input")
	wait := fs.Bool("wait", false, "wait for the run to end, showing its progress")
	download := fs.String("download", "", "save the outputs in this folder (implies --wait)")
	idemKey := fs.String("idempotency-key", "", "make retrying this command safe: the same key returns the same run")
	callback := fs.String("callback-url", "", "URL to receive the run.completed or run.failed webhook")
	noProgress := fs.Bool("no-progress", false, "no progress bar on stderr")
	pos, err := parse(fs, args, 1, 1, "SLUG --input ID=VALUE|@FILE ... [--wait] [--download DIR] [--json]")
	if err != nil {
		return err
	}
	if len(inputs) == 0 {
		return usageErrorf("flora run needs at least one --input ID=VALUE")
	}
	for _, in := range inputs {
		if id, _, ok := strings.Cut(in, "="); !ok || id == "" {
			return usageErrorf("--input %q: write ID=VALUE or ID=@FILE", in)
		}
	}
	slug := pos[0]
	if err := x.connect(); err != nil {
		return err
	}
	t, err := x.c.Techniques.Get(ctx, slug)
	if err != nil {
		return err
	}
	params := &client.RunCreateParams{IdempotencyKey: *idemKey, CallbackURL: *callback}
	for _, in := range inputs {
		ci, err := x.input(ctx, t, in)
		if err != nil {
			return err
		}
		params.Inputs = append(params.Inputs, ci)
	}
	r, err := x.c.Runs.Create(ctx, slug, params)
	if err != nil {
		return err
	}
	if *download == "" && !*wait {
		return x.printJSONOr(r, func() {
			fmt.Fprintf(x.stdout, "%s %s\nfollow it: flora runs get %s %s\n", r.RunID, r.Status, slug, r.RunID)
		})
	}
	bar := !*noProgress && !x.json
	if r, err = x.follow(ctx, slug, r, bar); err != nil {
		if ctx.Err() != nil {
			fmt.Fprintf(x.stderr, "\nflora: interrupted; the run goes on: flora runs get %s %s\n", slug, r.RunID)
		}
		return err
	}
	out := runOutput{Run: r}
	if *download != "" && r.Status == client.StatusCompleted {
		if out.Downloaded, err = x.download(ctx, r, *download); err != nil {
			return err
		}
	}
	if err := x.printJSONOr(out, func() {
		_ = x.printRun(r)
		for id, path := range out.Downloaded {
			fmt.Fprintf(x.stdout, "saved     %s: %s\n", id, path)
		}
	}); err != nil {
		return err
	}
	if r.Status == client.StatusFailed {
		fmt.Fprintf(x.stderr, "flora: run %s failed: %s: %s\n", r.RunID, r.ErrorCode, r.ErrorMessage)
		return errRunFailed
	}
	return nil
}

// input turns one --input flag into a run input, uploading @FILE media.
func (x *cli) input(ctx context.Context, t *client.Technique, flagValue string) (client.Input, error) {
	id, value, _ := strings.Cut(flagValue, "=")
	var def *client.IO
	known := make([]string, 0, len(t.Inputs))
	for i := range t.Inputs {
		known = append(known, t.Inputs[i].ID)
		if t.Inputs[i].ID == id {
			def = &t.Inputs[i]
		}
	}
	if def == nil {
		return client.Input{}, &inputError{fmt.Sprintf("technique %s has no input %q; its inputs: %s", t.Slug, id,
			strings.Join(known, ", "))}
	}
	path, isFile := strings.CutPrefix(value, "@")
	if !isFile {
		return client.Input{ID: id, Type: def.Type, Value: value}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return client.Input{}, &inputError{fmt.Sprintf("--input %s: %v", id, err)}
	}
	defer f.Close()
	if def.Type == "text" {
		data, err := io.ReadAll(f)
		if err != nil {
			return client.Input{}, &inputError{fmt.Sprintf("--input %s: %v", id, err)}
		}
		return client.Input{ID: id, Type: def.Type, Value: string(data)}, nil
	}
	a, err := x.c.Assets.Upload(ctx, path, f)
	if err != nil {
		return client.Input{}, err
	}
	if !x.json {
		fmt.Fprintf(x.stderr, "uploaded %s as %s (%s, %d bytes)\n", path, a.AssetID, a.ContentType, a.SizeBytes)
	}
	return client.Input{ID: id, Type: def.Type, Value: a.AssetID}, nil
}

// follow reads the run's event stream until its final event, drawing the
// progress bar; a broken stream is resumed from the last event seen, and
// after repeated failures the run is polled instead. The ended run is read
// once more for its outputs' fresh URLs.
func (x *cli) follow(ctx context.Context, slug string, r *client.Run, bar bool) (*client.Run, error) {
	p := &progressBar{w: x.stderr, on: bar}
	defer p.done()
	p.draw(r.Status, r.Progress)
	last := ""
	for failures := 0; failures < 5 && !r.Finished(); {
		stream, err := x.c.Runs.Events(ctx, slug, r.RunID, last)
		if err != nil {
			e := client.AsAPIError(err)
			if e != nil && e.Status == http.StatusTooManyRequests {
				break // too many streams open: poll instead
			}
			if ctx.Err() != nil || e != nil && e.Status < 500 {
				return r, err
			}
			failures++
			sleep(ctx, time.Duration(failures)*500*time.Millisecond)
			continue
		}
		final := false
		for !final {
			ev, err := stream.Next()
			if err != nil {
				break
			}
			last = stream.LastEventID()
			var d struct {
				Status   string `json:"status"`
				Progress *int   `json:"progress"`
			}
			if json.Unmarshal(ev.Data, &d) == nil && d.Progress != nil {
				p.draw(d.Status, *d.Progress)
			}
			if ev.Type == client.EventError {
				stream.Close()
				return r, fmt.Errorf("the event stream ended with an error: %s", ev.Data)
			}
			final = ev.Final()
		}
		stream.Close()
		if final {
			break
		}
		if ctx.Err() != nil {
			return r, ctx.Err()
		}
		failures++
	}
	done, err := x.c.WaitForRun(ctx, slug, r.RunID)
	if err != nil {
		return r, err
	}
	p.draw(done.Status, done.Progress)
	return done, nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// download saves every output in dir: media from its signed URL, text as a
// .txt file. It returns output id → path.
func (x *cli) download(ctx context.Context, r *client.Run, dir string) (map[string]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, &inputError{fmt.Sprintf("--download: %v", err)}
	}
	saved := map[string]string{}
	for _, o := range r.Outputs {
		var path string
		var err error
		if o.Type == "text" {
			path = filepath.Join(dir, o.OutputID+".txt")
			err = os.WriteFile(path, []byte(o.URL), 0o644)
		} else {
			path, err = x.downloadOne(ctx, o, dir)
		}
		if err != nil {
			return saved, err
		}
		saved[o.OutputID] = path
	}
	return saved, nil
}

func (x *cli) downloadOne(ctx context.Context, o client.Output, dir string) (string, error) {
	tmp, err := os.CreateTemp(dir, ".flora-download-*")
	if err != nil {
		return "", &inputError{fmt.Sprintf("--download: %v", err)}
	}
	defer os.Remove(tmp.Name())
	_, err = x.c.Download(ctx, o.URL, tmp)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("error downloading output %s: %w", o.OutputID, err)
	}
	path := filepath.Join(dir, o.OutputID+extension(o.URL))
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return "", fmt.Errorf("error saving output %s: %w", o.OutputID, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", fmt.Errorf("error saving output %s: %w", o.OutputID, err)
	}
	return path, nil
}

// extension is the file extension of a URL's path (florad's and S3's
// output URLs end in the file's), else .bin.
func extension(rawURL string) string {
	u := rawURL
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i]
	}
	if ext := filepath.Ext(u); ext != "" && len(ext) <= 6 && !strings.Contains(ext, "/") {
		return ext
	}
	return ".bin"
}
