package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/florad/florad/internal/app"
	"github.com/florad/florad/internal/technique"
	"github.com/florad/florad/internal/webhook"
	"github.com/florad/florad/internal/workspace"
)

// cmdAdmin runs one admin command against the data folder. The server may
// be running on the same folder: SQLite's locking and the busy timeout make
// the two take turns.
func cmdAdmin(ctx context.Context, name string, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", envOr("FLORA_DATA_DIR", app.DataDirDefault), "data folder (env FLORA_DATA_DIR)")
	asJSON := fs.Bool("json", false, "print JSON")
	dbURL := fs.String("database-url", os.Getenv("FLORA_DATABASE_URL"), "PostgreSQL URL instead of the data folder (env FLORA_DATABASE_URL)")
	var (
		wsName  *string
		wsID    *string
		credits *int64
		overlap *time.Duration
	)
	switch name {
	case "workspace create":
		wsName = fs.String("name", "", "workspace name (required)")
		credits = fs.Int64("credits", 0, "credits to grant at creation")
	case "key create", "credits balance":
		wsID = fs.String("workspace", "", "workspace id, ws_... (required)")
	case "credits grant":
		wsID = fs.String("workspace", "", "workspace id, ws_... (required)")
		credits = fs.Int64("credits", 0, "credits to grant (required, positive)")
	case "techniques list", "techniques apply":
		wsID = fs.String("workspace", "", "workspace id, ws_...: its own techniques (apply: make it private to it)")
	case "key rotate-webhook-secret":
		wsID = fs.String("workspace", "", "workspace id, ws_... (required)")
		overlap = fs.Duration("overlap", webhook.OverlapDefault, "how long the replaced secret keeps signing too")
	case "key revoke", "workspace list", "techniques validate":
	default:
		return &usageError{fmt.Sprintf("unknown command %q; see 'florad help'", name)}
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	required := func(flagName, v string) error {
		if v == "" {
			return &usageError{fmt.Sprintf("%s: --%s is required", name, flagName)}
		}
		return nil
	}

	if name == "techniques validate" {
		if len(pos) != 1 {
			return &usageError{"techniques validate: give exactly one file"}
		}
		data, err := os.ReadFile(pos[0])
		if err != nil {
			return err
		}
		_, procs, err := app.LoadCatalog(providersFromEnv())
		if err != nil {
			return err
		}
		t, err := technique.Parse(pos[0], data, procs)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(stdout, map[string]any{"valid": true, "slug": t.Slug, "version": t.Version})
		}
		fmt.Fprintf(stdout, "%s: valid (technique %s, version %s)\n", pos[0], t.Slug, t.Version)
		return nil
	}

	st, err := app.OpenStore(ctx, app.Config{DataDir: *data, DatabaseURL: *dbURL})
	if err != nil {
		return err
	}
	defer st.Close()
	svc := &workspace.Service{Store: st}

	switch name {
	case "techniques list":
		lib, err := app.OpenLibrary(ctx, st, providersFromEnv())
		if err != nil {
			return err
		}
		page, _, err := lib.List(ctx, *wsID, "", "", 1<<30)
		if err != nil {
			return err
		}
		type item struct {
			TechniqueID string `json:"technique_id"`
			Slug        string `json:"slug"`
			Name        string `json:"name"`
			Version     string `json:"version"`
			Workspace   string `json:"workspace_id,omitempty"`
			Credits     int64  `json:"run_credits"`
			Available   bool   `json:"available"`
			Reason      string `json:"unavailable_reason,omitempty"`
		}
		items := []item{}
		for _, t := range page {
			items = append(items, item{t.ID, t.Slug, t.Name, t.Version, t.WorkspaceID, t.Credits, t.Unavailable == "", t.Unavailable})
		}
		if *asJSON {
			return printJSON(stdout, map[string]any{"techniques": items})
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SLUG\tNAME\tVERSION\tCREDITS\tAVAILABLE")
		for _, it := range items {
			avail := "yes"
			if !it.Available {
				avail = "no: " + it.Reason
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", it.Slug, it.Name, it.Version, it.Credits, avail)
		}
		return tw.Flush()
	case "techniques apply":
		if len(pos) != 1 {
			return &usageError{"techniques apply: give exactly one file"}
		}
		data, err := os.ReadFile(pos[0])
		if err != nil {
			return err
		}
		if *wsID != "" {
			if _, err := st.WorkspaceGet(ctx, *wsID); err != nil {
				return fmt.Errorf("workspace %s: %w", *wsID, err)
			}
		}
		lib, err := app.OpenLibrary(ctx, st, providersFromEnv())
		if err != nil {
			return err
		}
		t, created, err := lib.Apply(ctx, st, *wsID, pos[0], data)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(stdout, map[string]any{"technique_id": t.ID, "slug": t.Slug, "version": t.Version,
				"workspace_id": *wsID, "created": created})
		}
		if created {
			fmt.Fprintf(stdout, "applied %s version %s\n", t.Slug, t.Version)
		} else {
			fmt.Fprintf(stdout, "%s version %s was already applied; nothing changed\n", t.Slug, t.Version)
		}
	case "workspace create":
		if err := required("name", *wsName); err != nil {
			return err
		}
		w, err := svc.Create(ctx, *wsName, *credits)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(stdout, map[string]any{"workspace_id": w.ID, "name": w.Name, "balance": w.Balance})
		}
		fmt.Fprintf(stdout, "created workspace %s (%q) with %d credits\n", w.ID, w.Name, w.Balance)
	case "workspace list":
		ws, err := st.WorkspaceList(ctx)
		if err != nil {
			return err
		}
		type item struct {
			ID      string `json:"workspace_id"`
			Name    string `json:"name"`
			Balance int64  `json:"balance"`
		}
		items := []item{}
		for _, w := range ws {
			items = append(items, item{w.ID, w.Name, w.Balance})
		}
		if *asJSON {
			return printJSON(stdout, map[string]any{"workspaces": items})
		}
		for _, it := range items {
			fmt.Fprintf(stdout, "%s\t%s\t%d credits\n", it.ID, it.Name, it.Balance)
		}
	case "key create":
		if err := required("workspace", *wsID); err != nil {
			return err
		}
		k, err := svc.CreateKey(ctx, *wsID)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(stdout, k)
		}
		fmt.Fprintf(stdout, "key id          %s\nAPI key         %s   (shown once)\nwebhook secret  %s\n", k.KeyID, k.Key, k.WebhookSecret)
	case "key revoke":
		if len(pos) != 1 {
			return &usageError{"key revoke: give exactly one key id"}
		}
		if err := svc.RevokeKey(ctx, pos[0]); err != nil {
			return err
		}
		if *asJSON {
			return printJSON(stdout, map[string]any{"key_id": pos[0], "revoked": true})
		}
		fmt.Fprintf(stdout, "revoked key %s\n", pos[0])
	case "key rotate-webhook-secret":
		if err := required("workspace", *wsID); err != nil {
			return err
		}
		rot, err := (&webhook.Service{Store: st}).RotateSecret(ctx, *wsID, *overlap)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(stdout, rot)
		}
		fmt.Fprintf(stdout, "workspace       %s\nwebhook secret  %s\n", rot.WorkspaceID, rot.Secret)
		if *overlap > 0 {
			fmt.Fprintf(stdout, "the previous secret also signs until %s\n",
				time.UnixMilli(rot.PreviousSecretExpiresAt).UTC().Format(time.RFC3339))
		}
	case "credits grant":
		if err := required("workspace", *wsID); err != nil {
			return err
		}
		balance, err := svc.Grant(ctx, *wsID, *credits, "admin grant")
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(stdout, map[string]any{"workspace_id": *wsID, "balance": balance})
		}
		fmt.Fprintf(stdout, "workspace %s now has %d credits\n", *wsID, balance)
	case "credits balance":
		if err := required("workspace", *wsID); err != nil {
			return err
		}
		balance, err := svc.Balance(ctx, *wsID)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(stdout, map[string]any{"workspace_id": *wsID, "balance": balance})
		}
		fmt.Fprintf(stdout, "%d\n", balance)
	}
	return nil
}
