package app_test

import (
	"context"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/client"
	"github.com/florad/florad/internal/app"
	"github.com/florad/florad/internal/ident"
	"github.com/florad/florad/internal/store"
)

// TestHistoryPaginationAcross1000Runs walks 1,000 runs page by page while
// new runs keep arriving, between pages and during them, some of them
// dated inside the range being walked: every run that existed when the
// walk began comes exactly once, newest first, and a newcomer shows
// exactly when it sorts after the cursor.
func TestHistoryPaginationAcross1000Runs(t *testing.T) {
	t.Parallel()
	onBackends(t, func(t *testing.T, pg bool) {
		b := setupWith(t, noWorkers(5000).on(pg))
		ctx := context.Background()

		// The 1,000 go straight into the store in one transaction, which
		// takes a fraction of the time of 1,000 API requests; four share each
		// millisecond, so the id breaks ties as it does between concurrent
		// requests. Their ids are made as the run service makes them.
		const n = 1000
		tech, ok, err := b.app.Techniques.Get(ctx, b.wsID, "prompt-expander")
		require.NoError(t, err)
		require.True(t, ok)
		base := time.Now().Add(-time.Minute)
		original := make([]string, n)
		err = b.app.Store.InTx(ctx, func(tx store.Tx) error {
			for i := range n {
				at := base.Add(time.Duration(i/4) * time.Millisecond)
				r, err := tx.RunInsert(ctx, &store.RunInsertParams{ID: ident.New("run_", at), WorkspaceID: b.wsID,
					TechniqueID: tech.ID, TechniqueSlug: tech.Slug, TechniqueVersion: tech.Version, Mode: "async",
					Inputs:      []store.RunInput{{ID: "prompt", Type: "text", Value: "p" + strconv.Itoa(i)}},
					Fingerprint: strconv.Itoa(i), Credits: tech.Credits, CreatedAt: at.UnixMilli()})
				if err != nil {
					return err
				}
				original[i] = r.ID
			}
			return nil
		})
		require.NoError(t, err)

		// Runs keep arriving over HTTP while the walk goes on.
		insert := func(tag string) string {
			r, err := b.client.Runs.Create(ctx, "prompt-expander", promptRun(tag))
			require.NoError(t, err)
			return r.RunID
		}
		// The background inserter is paced so that it does not starve the
		// parallel tests of CPU; its inserts still land during page reads.
		stop := make(chan struct{})
		background := make(chan int)
		go func() {
			count := 0
			defer func() { background <- count }()
			tick := time.NewTicker(5 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				if _, err := b.client.Runs.Create(ctx, "prompt-expander", promptRun("bg "+strconv.Itoa(count))); err != nil {
					t.Errorf("background insert: %v", err)
					return
				}
				count++
			}
		}()

		// Late runs: ones whose created_at falls inside the range being
		// walked, as a run whose transaction committed long after it took
		// its time would. The keyset must show exactly those still ahead of
		// the cursor when they appear.
		late := map[string]bool{} // id → expected in the walk
		rng := rand.New(rand.NewPCG(1, 2))
		insertLate := func(cursorAt int64, cursorID string) {
			at := base.Add(time.Duration(rng.IntN(n/4)) * time.Millisecond)
			id := ident.New("run_", at)
			err := b.app.Store.InTx(ctx, func(tx store.Tx) error {
				_, err := tx.RunInsert(ctx, &store.RunInsertParams{ID: id, WorkspaceID: b.wsID, TechniqueID: tech.ID,
					TechniqueSlug: tech.Slug, TechniqueVersion: tech.Version, Mode: "async", Fingerprint: id,
					Inputs: []store.RunInput{{ID: "prompt", Type: "text", Value: "late"}}, CreatedAt: at.UnixMilli()})
				return err
			})
			require.NoError(t, err)
			late[id] = at.UnixMilli() < cursorAt || (at.UnixMilli() == cursorAt && id < cursorID)
		}

		type seen struct {
			id        string
			createdAt int64
			page      int
		}
		var walk []seen
		cursor := ""
		pages := 0
		for {
			l, err := b.client.Runs.List(ctx, &client.RunListParams{Limit: 37, Cursor: cursor})
			require.NoError(t, err)
			pages++
			for _, r := range l.TechniqueRuns {
				walk = append(walk, seen{r.RunID, r.CreatedAt, pages})
			}
			if cursor = l.NextCursor(); cursor == "" {
				break
			}
			require.Len(t, l.TechniqueRuns, 37)
			insert("between pages " + strconv.Itoa(pages))
			last := walk[len(walk)-1]
			insertLate(last.createdAt, last.id)
			insertLate(last.createdAt, last.id)
		}
		close(stop)
		added := <-background
		t.Logf("walked %d runs in %d pages while %d runs were added (%d inside the walked range)",
			len(walk), pages, added+pages-1+len(late), len(late))

		// Newest first, strictly: (created_at, run_id) only goes down, which
		// also means no run came twice.
		for i := 1; i < len(walk); i++ {
			prev, cur := walk[i-1], walk[i]
			require.True(t, prev.createdAt > cur.createdAt || (prev.createdAt == cur.createdAt && prev.id > cur.id),
				"out of order at %d: %+v then %+v", i, prev, cur)
		}
		// Every original run exactly once, in creation order reversed.
		isOriginal := map[string]bool{}
		for _, id := range original {
			isOriginal[id] = true
		}
		var got []string
		lastNewPage := 0
		lateSeen := map[string]bool{}
		for _, s := range walk {
			switch {
			case isOriginal[s.id]:
				got = append(got, s.id)
			case late[s.id] || lateSeen[s.id]:
				lateSeen[s.id] = true
			default:
				lastNewPage = max(lastNewPage, s.page)
			}
		}
		for id, ahead := range late {
			require.Equal(t, ahead, lateSeen[id], "late run %s: ahead of the cursor when inserted: %v", id, ahead)
		}
		// A run's id starts with its created_at, so id order is list order.
		want := slices.Clone(original)
		slices.Sort(want)
		slices.Reverse(want)
		require.Len(t, got, n, "a run that existed before the walk was skipped or repeated")
		require.Equal(t, want, got)
		// A run created after the walk began is newer than every cursor, so
		// it can only show on the first page.
		require.LessOrEqual(t, lastNewPage, 1, "a run created mid-walk showed up on a later page")

		// The technique's own list, walked with the client's iterator, holds
		// everything now there.
		var all []string
		for r, err := range b.client.Runs.All(ctx, &client.RunListParams{Technique: "prompt-expander", Limit: 100}) {
			require.NoError(t, err)
			all = append(all, r.RunID)
		}
		require.Len(t, all, b.countRuns(t, b.wsID))
		require.Len(t, all, n+added+pages-1+len(late))
		for _, id := range original {
			require.Contains(t, all, id)
		}
	})
}

// TestHistoryFilters lists runs in every state through each filter, and
// rejects malformed filters with input_validation_error naming the field.
func TestHistoryFilters(t *testing.T) {
	t.Parallel()
	onBackends(t, func(t *testing.T, pg bool) {
		// One worker: while it is held on a gated input, later runs stay
		// pending.
		b := setupWith(t, setupOpts{postgres: pg, configure: func(c *app.Config) { c.Concurrency = 1 }})
		g := newGatedImages(t)
		ctx := context.Background()

		var completed, failed, pending []*client.Run
		for i := range 3 {
			r, err := b.client.Runs.Create(ctx, "prompt-expander", promptRun("done "+strconv.Itoa(i)))
			require.NoError(t, err)
			r = b.wait(t, b.client, "prompt-expander", r.RunID)
			require.Equal(t, client.StatusCompleted, r.Status)
			completed = append(completed, r)
		}
		for range 2 {
			r, err := b.client.Runs.Create(ctx, "portrait-enhancer", portraitRun(b.imageURL("notes.txt")))
			require.NoError(t, err)
			r = b.wait(t, b.client, "portrait-enhancer", r.RunID)
			require.Equal(t, client.StatusFailed, r.Status)
			failed = append(failed, r)
		}
		running := b.startGatedRun(t, g)
		for i := range 2 {
			// created_at has millisecond precision; two creates inside one
			// millisecond would tie and make the time filters ambiguous.
			time.Sleep(2 * time.Millisecond)
			r, err := b.client.Runs.Create(ctx, "prompt-expander", promptRun("waiting "+strconv.Itoa(i)))
			require.NoError(t, err)
			pending = append(pending, r)
		}
		for _, r := range pending {
			r, err := b.client.Runs.Get(ctx, "prompt-expander", r.RunID)
			require.NoError(t, err)
			require.Equal(t, client.StatusPending, r.Status, "the only worker is busy")
		}
		everything := slices.Concat(completed, failed, []*client.Run{running}, pending)
		// Distinct milliseconds make created_after/before exact.
		for i := 1; i < len(everything); i++ {
			require.Less(t, everything[i-1].CreatedAt, everything[i].CreatedAt)
		}
		portrait, err := b.client.Techniques.Get(ctx, "portrait-enhancer")
		require.NoError(t, err)
		expander, err := b.client.Techniques.Get(ctx, "prompt-expander")
		require.NoError(t, err)

		// ids lists a query's whole answer (all pages of 2), and checks the
		// items' shape on the way.
		ids := func(t *testing.T, technique string, q url.Values) []string {
			t.Helper()
			var out []string
			q.Set("limit", "2")
			for r, err := range b.client.Runs.All(ctx, &client.RunListParams{Technique: technique}, queryOpts(q)...) {
				require.NoError(t, err)
				require.Equal(t, r.RunID, r.TechniqueRunID)
				require.Equal(t, b.wsID, r.WorkspaceID)
				require.Nil(t, r.ProjectID)
				require.Equal(t, r.TechniqueID, r.Technique.TechniqueID)
				require.Contains(t, []string{"Portrait Enhancer", "Prompt Expander"}, r.Technique.Name)
				require.Contains(t, r.PollURL, "/runs/"+r.RunID)
				out = append(out, r.RunID)
			}
			return out
		}
		newestFirst := func(runs ...[]*client.Run) []string {
			var out []string
			for _, rs := range runs {
				for _, r := range rs {
					out = append(out, r.RunID)
				}
			}
			slices.Reverse(out)
			return out
		}
		ms := func(r *client.Run) string { return strconv.FormatInt(r.CreatedAt, 10) }
		rfc := func(r *client.Run) string { return time.UnixMilli(r.CreatedAt).UTC().Format(time.RFC3339Nano) }
		one := []*client.Run{running}

		for _, tc := range []struct {
			name      string
			technique string
			query     url.Values
			want      []string
		}{
			{"all", "", url.Values{}, newestFirst(everything)},
			{"completed", "", url.Values{"status": {"completed"}}, newestFirst(completed)},
			{"failed", "", url.Values{"status": {"failed"}}, newestFirst(failed)},
			{"running", "", url.Values{"status": {"running"}}, newestFirst(one)},
			{"pending", "", url.Values{"status": {"pending"}}, newestFirst(pending)},
			{"technique slug", "", url.Values{"technique_id": {"prompt-expander"}}, newestFirst(completed, pending)},
			{"technique id", "", url.Values{"technique_id": {portrait.TechniqueID}}, newestFirst(failed, one)},
			{"technique path", "portrait-enhancer", url.Values{}, newestFirst(failed, one)},
			{"technique path by id", expander.TechniqueID, url.Values{}, newestFirst(completed, pending)},
			{"technique path and status", "portrait-enhancer", url.Values{"status": {"failed"}}, newestFirst(failed)},
			{"technique path and same technique_id", "prompt-expander", url.Values{"technique_id": {expander.TechniqueID}},
				newestFirst(completed, pending)},
			{"created_after ms, exclusive", "", url.Values{"created_after": {ms(completed[2])}}, newestFirst(failed, one, pending)},
			{"created_before ms, exclusive", "", url.Values{"created_before": {ms(running)}}, newestFirst(completed, failed)},
			{"created window RFC 3339", "", url.Values{"created_after": {rfc(completed[0])}, "created_before": {rfc(pending[1])}},
				newestFirst(completed[1:], failed, one, pending[:1])},
			{"created window and status", "", url.Values{"created_after": {ms(completed[0])}, "status": {"completed"}},
				newestFirst(completed[1:])},
			{"empty window", "", url.Values{"created_after": {ms(running)}, "created_before": {ms(running)}}, nil},
			{"unknown technique_id matches nothing", "", url.Values{"technique_id": {"no-such-technique"}}, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				require.Equal(t, tc.want, ids(t, tc.technique, tc.query))
			})
		}

		t.Run("another workspace sees none of them", func(t *testing.T) {
			_, _, key := b.newWorkspace(t, 10)
			l, err := b.newClient(key).Runs.List(ctx, nil)
			require.NoError(t, err)
			require.Empty(t, l.TechniqueRuns)
			require.Empty(t, l.NextCursor())
			_, err = b.newClient(key).Runs.List(ctx, nil, client.WithQuery("workspace_id", b.wsID))
			apiError(t, err, http.StatusForbidden, "forbidden")
		})

		t.Run("bad values", func(t *testing.T) {
			for _, tc := range []struct {
				technique string
				field     string
				value     string
			}{
				{"", "status", "canceled"},
				{"", "status", "COMPLETED"},
				{"", "limit", "0"},
				{"", "limit", "101"},
				{"", "limit", "ten"},
				{"", "created_after", "yesterday"},
				{"", "created_after", "-1"},
				{"", "created_after", "2026-13-01T00:00:00Z"},
				{"", "created_before", "1.5"},
				{"", "created_before", "2026-06-01"},
				{"", "cursor", "!!!"},
				{"", "cursor", "bm90IGpzb24"}, // base64 of "not json"
				{"prompt-expander", "technique_id", "portrait-enhancer"},
			} {
				_, err := b.client.Runs.List(ctx, &client.RunListParams{Technique: tc.technique}, client.WithQuery(tc.field, tc.value))
				e := apiError(t, err, http.StatusBadRequest, "input_validation_error")
				require.True(t, e.HasField(tc.field), "%s=%q: fields %+v", tc.field, tc.value, e.Fields)
			}
			_, err := b.client.Runs.List(ctx, &client.RunListParams{Technique: "no-such-technique"})
			apiError(t, err, http.StatusNotFound, "not_found")
		})
	})
}

func queryOpts(q url.Values) []client.RequestOption {
	var out []client.RequestOption
	for k, vs := range q {
		for _, v := range vs {
			out = append(out, client.WithQuery(k, v))
		}
	}
	return out
}
