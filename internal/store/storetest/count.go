package storetest

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/store"
)

// exerciseRunCount: RunCountOpen counts pending and running runs of every
// workspace, and no ended one.
func exerciseRunCount(t *testing.T, setup setupFunc) {
	t.Helper()
	b := setup(t)
	count := func() (int64, int64) {
		t.Helper()
		p, r, err := b.store.RunCountOpen(b.ctx)
		require.NoError(t, err)
		return p, r
	}
	p, r := count()
	require.Zero(t, p)
	require.Zero(t, r)

	ws1, ws2 := b.fix.Workspace(), b.fix.Workspace()
	a := b.fix.Run(ws1.ID)
	c := b.fix.Run(ws2.ID)
	d := b.fix.Run(ws2.ID)
	b.fix.Run(ws1.ID)
	p, r = count()
	require.Equal(t, int64(4), p)
	require.Zero(t, r)

	b.fix.RunStart(a)
	b.fix.RunStart(c)
	p, r = count()
	require.Equal(t, [2]int64{2, 2}, [2]int64{p, r})

	b.fix.RunFinish(&store.RunFinishParams{RunID: a.ID, JobID: a.JobID, Status: store.RunCompleted, At: b.fix.Now()})
	b.fix.RunFinish(&store.RunFinishParams{RunID: d.ID, JobID: d.JobID, Status: store.RunFailed,
		ErrorCode: "run_canceled", ErrorMessage: "canceled", At: b.fix.Now()})
	p, r = count()
	require.Equal(t, [2]int64{1, 1}, [2]int64{p, r}, "ended runs are not counted")
}
