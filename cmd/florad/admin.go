package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/florad/florad/internal/app"
	"github.com/florad/florad/internal/auth"
	"github.com/florad/florad/internal/store"
	"github.com/florad/florad/internal/technique"
	"github.com/florad/florad/internal/webhook"
	"github.com/florad/florad/internal/workspace"
)

// adminCommand is one "florad NOUN VERB" command: the flags it takes beyond
// the common ones, and what it does. Every admin command is a row of
// adminCommands, so adding one touches nothing else.
type adminCommand struct {
	// flags declares the command's own flags into a.
	flags func(fs *flag.FlagSet, a *adminArgs)
	// noStore: the command works on files alone and opens no database.
	noStore bool
	run     func(ctx context.Context, c *adminCall) error
}

// adminArgs holds every flag an admin command may take; each command
// declares only the ones it uses.
type adminArgs struct {
	wsName  string
	wsID    string
	credits int64
	overlap time.Duration
	// scopes and maxPerDay are a key's, as given (empty: not given);
	// subject is a Clerk subject.
	scopes    string
	maxPerDay string
	subject   string
}

// adminCall is what one admin command runs with.
type adminCall struct {
	name   string
	args   adminArgs
	pos    []string
	asJSON bool
	stdout io.Writer
	st     store.Store // nil for noStore commands
	svc    *workspace.Service
}

func adminCommands() map[string]adminCommand {
	return map[string]adminCommand{
		"workspace create": {flags: flagsWorkspaceCreate, run: adminWorkspaceCreate},
		"workspace list":   {run: adminWorkspaceList},
		"workspace link": {flags: func(fs *flag.FlagSet, a *adminArgs) {
			flagWorkspaceRequired(fs, a)
			fs.StringVar(&a.subject, "clerk-subject", "", "Clerk organization or user id, org_... or user_... (required)")
		}, run: adminWorkspaceLink},
		"key create": {flags: func(fs *flag.FlagSet, a *adminArgs) {
			flagWorkspaceRequired(fs, a)
			fs.StringVar(&a.scopes, "scopes", "", "comma-separated scopes: "+strings.Join(auth.AllScopes(), ", ")+" (default all)")
			fs.StringVar(&a.maxPerDay, "max-credits-per-day", "", "credits the key may spend per UTC day (default no cap)")
		}, run: adminKeyCreate},
		"key update": {flags: func(fs *flag.FlagSet, a *adminArgs) {
			fs.StringVar(&a.scopes, "scopes", "", "comma-separated scopes replacing the key's (default unchanged)")
			fs.StringVar(&a.maxPerDay, "max-credits-per-day", "", "credits the key may spend per UTC day, or none to remove the cap (default unchanged)")
		}, run: adminKeyUpdate},
		"key revoke": {run: adminKeyRevoke},
		"key rotate-webhook-secret": {flags: func(fs *flag.FlagSet, a *adminArgs) {
			flagWorkspaceRequired(fs, a)
			fs.DurationVar(&a.overlap, "overlap", webhook.OverlapDefault, "how long the replaced secret keeps signing too")
		}, run: adminKeyRotateWebhookSecret},
		"credits grant": {flags: func(fs *flag.FlagSet, a *adminArgs) {
			flagWorkspaceRequired(fs, a)
			fs.Int64Var(&a.credits, "credits", 0, "credits to grant (required, positive)")
		}, run: adminCreditsGrant},
		"credits balance":     {flags: flagWorkspaceRequired, run: adminCreditsBalance},
		"techniques list":     {flags: flagWorkspaceOwn, run: adminTechniquesList},
		"techniques apply":    {flags: flagWorkspaceOwn, run: adminTechniquesApply},
		"techniques validate": {noStore: true, run: adminTechniquesValidate},
	}
}

// adminNouns is the set of first words of the admin commands.
func adminNouns() map[string]bool {
	nouns := map[string]bool{}
	for name := range adminCommands() {
		noun, _, _ := strings.Cut(name, " ")
		nouns[noun] = true
	}
	return nouns
}

func flagsWorkspaceCreate(fs *flag.FlagSet, a *adminArgs) {
	fs.StringVar(&a.wsName, "name", "", "workspace name (required)")
	fs.Int64Var(&a.credits, "credits", 0, "credits to grant at creation")
}

func flagWorkspaceRequired(fs *flag.FlagSet, a *adminArgs) {
	fs.StringVar(&a.wsID, "workspace", "", "workspace id, ws_... (required)")
}

func flagWorkspaceOwn(fs *flag.FlagSet, a *adminArgs) {
	fs.StringVar(&a.wsID, "workspace", "", "workspace id, ws_...: its own techniques (apply: make it private to it)")
}

// cmdAdmin runs one admin command against the data folder. The server may
// be running on the same folder: SQLite's locking and the busy timeout make
// the two take turns.
func cmdAdmin(ctx context.Context, name string, args []string, stdout, stderr io.Writer) error {
	cmd, ok := adminCommands()[name]
	if !ok {
		return &usageError{fmt.Sprintf("unknown command %q; see 'florad help'", name)}
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", envOr("FLORA_DATA_DIR", app.DataDirDefault), "data folder (env FLORA_DATA_DIR)")
	asJSON := fs.Bool("json", false, "print JSON")
	dbURL := fs.String("database-url", os.Getenv("FLORA_DATABASE_URL"), "PostgreSQL URL instead of the data folder (env FLORA_DATABASE_URL)")
	c := &adminCall{name: name, stdout: stdout}
	if cmd.flags != nil {
		cmd.flags(fs, &c.args)
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	c.pos, c.asJSON = pos, *asJSON
	if cmd.noStore {
		return cmd.run(ctx, c)
	}
	st, err := app.OpenStore(ctx, app.Config{DataDir: *data, DatabaseURL: *dbURL})
	if err != nil {
		return err
	}
	defer st.Close()
	c.st, c.svc = st, &workspace.Service{Store: st}
	return cmd.run(ctx, c)
}

// required refuses an empty required flag.
func (c *adminCall) required(flagName, v string) error {
	if v == "" {
		return &usageError{fmt.Sprintf("%s: --%s is required", c.name, flagName)}
	}
	return nil
}

// onePositional returns the command's single positional argument (what
// names the thing: a file, a key id).
func (c *adminCall) onePositional(what string) (string, error) {
	if len(c.pos) != 1 {
		return "", &usageError{fmt.Sprintf("%s: give exactly one %s", c.name, what)}
	}
	return c.pos[0], nil
}

// print writes v as JSON with --json, else the text human prints.
func (c *adminCall) print(v any, human func(w io.Writer)) error {
	if c.asJSON {
		return printJSON(c.stdout, v)
	}
	human(c.stdout)
	return nil
}

func adminTechniquesValidate(_ context.Context, c *adminCall) error {
	file, err := c.onePositional("file")
	if err != nil {
		return err
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	_, procs, err := app.LoadCatalog(providersFromEnv())
	if err != nil {
		return err
	}
	t, err := technique.Parse(file, data, procs)
	if err != nil {
		return err
	}
	return c.print(map[string]any{"valid": true, "slug": t.Slug, "version": t.Version}, func(w io.Writer) {
		fmt.Fprintf(w, "%s: valid (technique %s, version %s)\n", file, t.Slug, t.Version)
	})
}

func adminTechniquesList(ctx context.Context, c *adminCall) error {
	lib, err := app.OpenLibrary(ctx, c.st, providersFromEnv())
	if err != nil {
		return err
	}
	page, _, err := lib.List(ctx, c.args.wsID, "", "", 1<<30)
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
	if c.asJSON {
		return printJSON(c.stdout, map[string]any{"techniques": items})
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SLUG\tNAME\tVERSION\tCREDITS\tAVAILABLE")
	for _, it := range items {
		avail := "yes"
		if !it.Available {
			avail = "no: " + it.Reason
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", it.Slug, it.Name, it.Version, it.Credits, avail)
	}
	return tw.Flush()
}

func adminTechniquesApply(ctx context.Context, c *adminCall) error {
	file, err := c.onePositional("file")
	if err != nil {
		return err
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	wsID := c.args.wsID
	if wsID != "" {
		if _, err := c.st.WorkspaceGet(ctx, wsID); err != nil {
			return fmt.Errorf("workspace %s: %w", wsID, err)
		}
	}
	lib, err := app.OpenLibrary(ctx, c.st, providersFromEnv())
	if err != nil {
		return err
	}
	t, created, err := lib.Apply(ctx, c.st, wsID, file, data)
	if err != nil {
		return err
	}
	return c.print(map[string]any{"technique_id": t.ID, "slug": t.Slug, "version": t.Version,
		"workspace_id": wsID, "created": created}, func(w io.Writer) {
		if created {
			fmt.Fprintf(w, "applied %s version %s\n", t.Slug, t.Version)
		} else {
			fmt.Fprintf(w, "%s version %s was already applied; nothing changed\n", t.Slug, t.Version)
		}
	})
}

func adminWorkspaceCreate(ctx context.Context, c *adminCall) error {
	if err := c.required("name", c.args.wsName); err != nil {
		return err
	}
	ws, err := c.svc.Create(ctx, c.args.wsName, c.args.credits)
	if err != nil {
		return err
	}
	return c.print(map[string]any{"workspace_id": ws.ID, "name": ws.Name, "balance": ws.Balance}, func(w io.Writer) {
		fmt.Fprintf(w, "created workspace %s (%q) with %d credits\n", ws.ID, ws.Name, ws.Balance)
	})
}

func adminWorkspaceList(ctx context.Context, c *adminCall) error {
	ws, err := c.st.WorkspaceList(ctx)
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
	return c.print(map[string]any{"workspaces": items}, func(w io.Writer) {
		for _, it := range items {
			fmt.Fprintf(w, "%s\t%s\t%d credits\n", it.ID, it.Name, it.Balance)
		}
	})
}

func adminKeyCreate(ctx context.Context, c *adminCall) error {
	if err := c.required("workspace", c.args.wsID); err != nil {
		return err
	}
	var o workspace.KeyOptions
	var err error
	if c.args.scopes != "" {
		if o.Scopes, err = auth.ParseScopes(c.args.scopes); err != nil {
			return &usageError{c.name + ": --scopes: " + err.Error()}
		}
	}
	if c.args.maxPerDay != "" {
		if o.MaxCreditsPerDay, err = parseCap(c.args.maxPerDay, false); err != nil {
			return &usageError{c.name + ": " + err.Error()}
		}
	}
	k, err := c.svc.CreateKeyWith(ctx, c.args.wsID, o)
	if err != nil {
		return err
	}
	return c.print(k, func(w io.Writer) {
		fmt.Fprintf(w, "key id          %s\nAPI key         %s   (shown once)\nwebhook secret  %s\nscopes          %s\ndaily cap       %s\n",
			k.KeyID, k.Key, k.WebhookSecret, strings.Join(k.Scopes, " "), capText(k.MaxCreditsPerDay))
	})
}

func adminKeyUpdate(ctx context.Context, c *adminCall) error {
	keyID, err := c.onePositional("key id")
	if err != nil {
		return err
	}
	var (
		scopes   []string
		newCap   *int64
		clearCap bool
	)
	if c.args.scopes != "" {
		if scopes, err = auth.ParseScopes(c.args.scopes); err != nil {
			return &usageError{c.name + ": --scopes: " + err.Error()}
		}
	}
	if c.args.maxPerDay != "" {
		if newCap, err = parseCap(c.args.maxPerDay, true); err != nil {
			return &usageError{c.name + ": " + err.Error()}
		}
		clearCap = newCap == nil
	}
	if scopes == nil && c.args.maxPerDay == "" {
		return &usageError{c.name + ": give --scopes or --max-credits-per-day"}
	}
	k, err := c.svc.UpdateKey(ctx, keyID, scopes, newCap, clearCap)
	if err != nil {
		return err
	}
	return c.print(map[string]any{"key_id": k.ID, "workspace_id": k.WorkspaceID, "scopes": k.Scopes,
		"max_credits_per_day": k.MaxCreditsPerDay}, func(w io.Writer) {
		fmt.Fprintf(w, "key %s: scopes %s, daily cap %s\n", k.ID, strings.Join(k.Scopes, " "), capText(k.MaxCreditsPerDay))
	})
}

func adminWorkspaceLink(ctx context.Context, c *adminCall) error {
	if err := c.required("workspace", c.args.wsID); err != nil {
		return err
	}
	if err := c.required("clerk-subject", c.args.subject); err != nil {
		return err
	}
	if err := c.svc.LinkClerkSubject(ctx, c.args.wsID, c.args.subject); err != nil {
		return err
	}
	return c.print(map[string]any{"workspace_id": c.args.wsID, "clerk_subject": c.args.subject}, func(w io.Writer) {
		fmt.Fprintf(w, "Clerk keys of %s now speak for workspace %s\n", c.args.subject, c.args.wsID)
	})
}

// parseCap reads --max-credits-per-day: a whole number of credits, or (when
// none is allowed) "none" for no cap, returned as nil.
func parseCap(s string, noneAllowed bool) (*int64, error) {
	if noneAllowed && s == "none" {
		return nil, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		if noneAllowed {
			return nil, fmt.Errorf("--max-credits-per-day: %q is not a whole number of credits or none", s)
		}
		return nil, fmt.Errorf("--max-credits-per-day: %q is not a whole number of credits", s)
	}
	return &n, nil
}

func capText(n *int64) string {
	if n == nil {
		return "none"
	}
	return strconv.FormatInt(*n, 10) + " credits"
}

func adminKeyRevoke(ctx context.Context, c *adminCall) error {
	keyID, err := c.onePositional("key id")
	if err != nil {
		return err
	}
	if err := c.svc.RevokeKey(ctx, keyID); err != nil {
		return err
	}
	return c.print(map[string]any{"key_id": keyID, "revoked": true}, func(w io.Writer) {
		fmt.Fprintf(w, "revoked key %s\n", keyID)
	})
}

func adminKeyRotateWebhookSecret(ctx context.Context, c *adminCall) error {
	if err := c.required("workspace", c.args.wsID); err != nil {
		return err
	}
	rot, err := (&webhook.Service{Store: c.st}).RotateSecret(ctx, c.args.wsID, c.args.overlap)
	if err != nil {
		return err
	}
	return c.print(rot, func(w io.Writer) {
		fmt.Fprintf(w, "workspace       %s\nwebhook secret  %s\n", rot.WorkspaceID, rot.Secret)
		if c.args.overlap > 0 {
			fmt.Fprintf(w, "the previous secret also signs until %s\n",
				time.UnixMilli(rot.PreviousSecretExpiresAt).UTC().Format(time.RFC3339))
		}
	})
}

func adminCreditsGrant(ctx context.Context, c *adminCall) error {
	if err := c.required("workspace", c.args.wsID); err != nil {
		return err
	}
	balance, err := c.svc.Grant(ctx, c.args.wsID, c.args.credits, "admin grant")
	if err != nil {
		return err
	}
	return c.print(map[string]any{"workspace_id": c.args.wsID, "balance": balance}, func(w io.Writer) {
		fmt.Fprintf(w, "workspace %s now has %d credits\n", c.args.wsID, balance)
	})
}

func adminCreditsBalance(ctx context.Context, c *adminCall) error {
	if err := c.required("workspace", c.args.wsID); err != nil {
		return err
	}
	balance, err := c.svc.Balance(ctx, c.args.wsID)
	if err != nil {
		return err
	}
	return c.print(map[string]any{"workspace_id": c.args.wsID, "balance": balance}, func(w io.Writer) {
		fmt.Fprintf(w, "%d\n", balance)
	})
}
