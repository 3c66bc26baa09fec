package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/florad/florad/client"
)

// cmdTechniques lists every technique the key's workspace can run.
func cmdTechniques(ctx context.Context, x *cli, fs *flag.FlagSet, args []string) error {
	if _, err := parse(fs, args, 0, 0, "[--json]"); err != nil {
		return err
	}
	if err := x.connect(); err != nil {
		return err
	}
	var all []client.Technique
	cursor := ""
	for {
		page, err := x.c.Techniques.List(ctx, &client.ListParams{Limit: 100, Cursor: cursor})
		if err != nil {
			return err
		}
		all = append(all, page.Techniques...)
		if cursor = page.NextCursor(); cursor == "" {
			break
		}
	}
	return x.printJSONOr(map[string]any{"techniques": all}, func() {
		tw := tabwriter.NewWriter(x.stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SLUG\tCREDITS\tINPUTS\tOUTPUTS")
		for _, t := range all {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", t.Slug, t.RunCredits, ioList(t.Inputs), ioList(t.Outputs))
		}
		tw.Flush()
	})
}

func ioList(ios []client.IO) string {
	parts := make([]string, 0, len(ios))
	for _, io := range ios {
		s := io.ID + ":" + io.Type
		if io.Optional {
			s += "?"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

// cmdRunsList prints the run history, newest first.
func cmdRunsList(ctx context.Context, x *cli, fs *flag.FlagSet, args []string) error {
	status := fs.String("status", "", "only runs in this status: pending, running, completed or failed")
	technique := fs.String("technique", "", "only runs of this technique (slug or tech_ id)")
	limit := fs.Int("limit", 20, "runs to show, 1-100")
	cursor := fs.String("cursor", "", "the next_cursor of a previous page")
	if _, err := parse(fs, args, 0, 0, "[--status S] [--technique SLUG] [--limit N] [--cursor C] [--json]"); err != nil {
		return err
	}
	if err := x.connect(); err != nil {
		return err
	}
	if x.json {
		// The server's own objects, every field as sent.
		q := url.Values{}
		for k, v := range map[string]string{"status": *status, "technique_id": *technique, "cursor": *cursor} {
			if v != "" {
				q.Set(k, v)
			}
		}
		q.Set("limit", strconv.Itoa(*limit))
		return x.printRaw(ctx, "/api/v1/technique-runs?"+q.Encode())
	}
	list, err := x.c.Runs.List(ctx, &client.RunListParams{Status: *status, TechniqueID: *technique, Limit: *limit, Cursor: *cursor})
	if err != nil {
		return err
	}
	return x.printJSONOr(list, func() {
		tw := tabwriter.NewWriter(x.stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "RUN\tTECHNIQUE\tSTATUS\tPROGRESS\tCREATED")
		for _, r := range list.TechniqueRuns {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d%%\t%s\n", r.RunID, r.TechniqueID, r.Status, r.Progress, formatTime(r.CreatedAt))
		}
		tw.Flush()
		if c := list.NextCursor(); c != "" {
			fmt.Fprintf(x.stdout, "more: flora runs list --cursor %s\n", c)
		}
	})
}

// cmdRunsGet prints one run.
func cmdRunsGet(ctx context.Context, x *cli, fs *flag.FlagSet, args []string) error {
	pos, err := parse(fs, args, 2, 2, "SLUG RUN_ID [--json]")
	if err != nil {
		return err
	}
	if err := x.connect(); err != nil {
		return err
	}
	r, err := x.c.Runs.Get(ctx, pos[0], pos[1])
	if err != nil {
		return err
	}
	return x.printRun(r)
}

// cmdRunsCancel cancels a run and prints it.
func cmdRunsCancel(ctx context.Context, x *cli, fs *flag.FlagSet, args []string) error {
	pos, err := parse(fs, args, 2, 2, "SLUG RUN_ID [--json]")
	if err != nil {
		return err
	}
	if err := x.connect(); err != nil {
		return err
	}
	r, err := x.c.Runs.Cancel(ctx, pos[0], pos[1])
	if err != nil {
		return err
	}
	return x.printRun(r)
}

// printRun shows a run: JSON, or its status, error and outputs.
func (x *cli) printRun(r *client.Run) error {
	return x.printJSONOr(r, func() {
		fmt.Fprintf(x.stdout, "run       %s\nstatus    %s (%d%%)\ncreated   %s\n", r.RunID, r.Status, r.Progress, formatTime(r.CreatedAt))
		if r.ChargedCredits != nil {
			fmt.Fprintf(x.stdout, "charged   %d credits\n", *r.ChargedCredits)
		}
		if r.ErrorCode != "" {
			fmt.Fprintf(x.stdout, "error     %s: %s\n", r.ErrorCode, r.ErrorMessage)
		}
		for _, o := range r.Outputs {
			fmt.Fprintf(x.stdout, "output    %s (%s): %s\n", o.OutputID, o.Type, o.URL)
		}
	})
}

// cmdWorkspace prints the key's workspace.
func cmdWorkspace(ctx context.Context, x *cli, fs *flag.FlagSet, args []string) error {
	if _, err := parse(fs, args, 0, 0, "[--json]"); err != nil {
		return err
	}
	if err := x.connect(); err != nil {
		return err
	}
	if x.json {
		return x.printRaw(ctx, "/api/v1/workspace")
	}
	w, err := x.c.Workspace(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(x.stdout, "workspace  %s (%s)\ncredits    %d\ncreated    %s\n", w.WorkspaceID, w.Name, w.CreditBalance, formatTime(w.CreatedAt))
	for k, v := range w.Limits {
		fmt.Fprintf(x.stdout, "limit      %s: %v\n", k, v)
	}
	return nil
}

// cmdDeliveries lists webhook deliveries with their attempts.
func cmdDeliveries(ctx context.Context, x *cli, fs *flag.FlagSet, args []string) error {
	runID := fs.String("run", "", "only deliveries of this run")
	state := fs.String("state", "", "only deliveries in this state: pending, succeeded or failed")
	limit := fs.Int("limit", 20, "deliveries to show, 1-100")
	cursor := fs.String("cursor", "", "the next_cursor of a previous page")
	if _, err := parse(fs, args, 0, 0, "[--run RUN_ID] [--state S] [--limit N] [--cursor C] [--json]"); err != nil {
		return err
	}
	if err := x.connect(); err != nil {
		return err
	}
	list, err := x.c.WebhookDeliveries.List(ctx, &client.WebhookDeliveryListParams{RunID: *runID, State: *state,
		Limit: *limit, Cursor: *cursor})
	if err != nil {
		return err
	}
	return x.printJSONOr(list, func() {
		tw := tabwriter.NewWriter(x.stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "DELIVERY\tRUN\tEVENT\tSTATE\tATTEMPTS\tLAST")
		for _, d := range list.WebhookDeliveries {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", d.ID, d.RunID, d.Type, d.State, d.AttemptCount, lastAttempt(d))
		}
		tw.Flush()
	})
}

func lastAttempt(d client.WebhookDelivery) string {
	if len(d.Attempts) == 0 {
		return "-"
	}
	a := d.Attempts[len(d.Attempts)-1]
	switch {
	case a.StatusCode != nil:
		return fmt.Sprintf("HTTP %d", *a.StatusCode)
	case a.Error != "":
		return a.Error
	}
	return "-"
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printRaw GETs path and prints the server's JSON as it came, indented:
// --json shows every field the server sends, in its names.
func (x *cli) printRaw(ctx context.Context, path string) error {
	resp, err := x.c.Do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	var v any
	if err := json.Unmarshal(resp.Body, &v); err != nil {
		return fmt.Errorf("error decoding the answer to %s: %w", path, err)
	}
	return printJSON(x.stdout, v)
}
