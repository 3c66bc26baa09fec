package loadbench

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/florad/florad/internal/run"
	"github.com/florad/florad/internal/store"
	"github.com/florad/florad/internal/technique"
	"github.com/florad/florad/internal/ident"
)

func walSize(p string) int64 { st, err := os.Stat(p + "-wal"); if err != nil { return -1 }; return st.Size() }

func TestScratchTxn(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	sync := os.Getenv("SYNC")
	if sync == "" { sync = "FULL" }
	f, err := StartFlorad(ctx, filepath.Join(dir, "f"), FloradOptions{Synchronous: sync})
	if err != nil { t.Fatal(err) }
	defer f.Close()
	b, err := StartBaseline(ctx, filepath.Join(dir, "b"), sync)
	if err != nil { t.Fatal(err) }
	defer b.Close()
	const n = 2000
	body := postBody("x")
	for round := 0; round < 2; round++ {
		t0 := time.Now(); c0 := TakeCPUSnapshot()
		for i := range n {
			r := baselineRun{RunID: ident.New("run_", time.Now()), Status: "pending", CreatedAt: 1}
			if err := b.insertAndDebit(ctx, &r, body(0, i)); err != nil { t.Fatal(err) }
		}
		fmt.Printf("baseline: %v/txn cpu %v\n", time.Since(t0)/n, cpuSince(c0)/n)
		t0 = time.Now(); c0 = TakeCPUSnapshot()
		for i := range n {
			_, _, err := f.App.Runs.Create(ctx, &run.CreateParams{WorkspaceID: f.WorkspaceID, Technique: "prompt-expander",
				Inputs: []technique.RequestInput{{ID: "prompt", Type: "text", Value: fmt.Sprint("x", round, i)}}, Mode: "async"})
			if err != nil { t.Fatal(err) }
		}
		fmt.Printf("florad Runs.Create: %v/txn cpu %v\n", time.Since(t0)/n, cpuSince(c0)/n)
		t0 = time.Now(); c0 = TakeCPUSnapshot()
		for i := range n {
			err := f.App.Store.InTx(ctx, func(tx store.Tx) error {
				now := time.Now()
				r, err := tx.RunInsert(ctx, &store.RunInsertParams{ID: ident.New("run_", now), WorkspaceID: f.WorkspaceID, TechniqueID: "t", TechniqueSlug: "s", TechniqueVersion: "1", Inputs: []store.RunInput{{ID: "prompt", Type: "text", Value: fmt.Sprint(i)}}, Mode: "async", Fingerprint: "fp", Credits: 1, CreatedAt: now.UnixMilli()})
				if err != nil { return err }
				_, err = tx.CreditsApply(ctx, &store.CreditsApplyParams{WorkspaceID: f.WorkspaceID, RunID: r.ID, Kind: store.LedgerReserve, Amount: -1, CreatedAt: now.UnixMilli()})
				return err
			})
			if err != nil { t.Fatal(err) }
		}
		fmt.Printf("florad run+ledger (no job): %v/txn cpu %v\n", time.Since(t0)/n, cpuSince(c0)/n)
	}
}

func cpuSince(c CPUSnapshot) time.Duration { return TakeCPUSnapshot().Self - c.Self }
