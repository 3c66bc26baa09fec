package storetest

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/store"
)

func exerciseTechnique(t *testing.T, setup setupFunc) {
	t.Helper()

	insert := func(b *testBundle, rec *store.TechniqueRecord) error {
		return b.store.InTx(b.ctx, func(tx store.Tx) error { return tx.TechniqueInsert(b.ctx, rec) })
	}
	// record is a version of slug; the source is not valid UTF-8 on
	// purpose: the store keeps the bytes as applied.
	record := func(b *testBundle, workspaceID, slug, version string) *store.TechniqueRecord {
		return &store.TechniqueRecord{
			WorkspaceID: workspaceID, Slug: slug, Version: version,
			Source:    []byte("slug: " + slug + "\nversion: " + version + "\n# ü\xff\x00\n"),
			CreatedAt: b.fix.Now(),
		}
	}
	// ours keeps the records of the given slugs: public techniques of other
	// tests may share the database.
	ours := func(t *testing.T, list []*store.TechniqueRecord, slugs ...string) map[[2]string]*store.TechniqueRecord {
		out := map[[2]string]*store.TechniqueRecord{}
		for _, rec := range list {
			for _, s := range slugs {
				if rec.Slug == s {
					key := [2]string{rec.WorkspaceID, rec.Slug}
					require.NotContains(t, out, key, "two latest versions of %v", key)
					out[key] = rec
				}
			}
		}
		return out
	}

	t.Run("InsertGetVersion", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws, other := b.fix.Workspace(), b.fix.Workspace()
		slug := b.fix.ID("upscale")

		public := record(b, "", slug, "1.0.0")
		require.NoError(t, insert(b, public))
		private := record(b, ws.ID, slug, "1.0.0")
		require.NoError(t, insert(b, private), "a workspace's technique may share a public one's slug and version")

		got, err := b.store.TechniqueGetVersion(b.ctx, "", slug, "1.0.0")
		require.NoError(t, err)
		require.Equal(t, public, got)
		got, err = b.store.TechniqueGetVersion(b.ctx, ws.ID, slug, "1.0.0")
		require.NoError(t, err)
		require.Equal(t, private, got)

		_, err = b.store.TechniqueGetVersion(b.ctx, other.ID, slug, "1.0.0")
		require.ErrorIs(t, err, store.ErrNotFound, "the exact workspace only")
		_, err = b.store.TechniqueGetVersion(b.ctx, "", slug, "1.0.1")
		require.ErrorIs(t, err, store.ErrNotFound)
		_, err = b.store.TechniqueGetVersion(b.ctx, "", b.fix.ID("slug"), "1.0.0")
		require.ErrorIs(t, err, store.ErrNotFound)

		// Inside a transaction, before it commits.
		draft := record(b, ws.ID, slug, "2.0.0")
		var (
			inTx  *store.TechniqueRecord
			txErr error
		)
		b.fix.inTx(func(tx store.Tx) error {
			if err := tx.TechniqueInsert(b.ctx, draft); err != nil {
				return err
			}
			inTx, txErr = tx.TechniqueGetVersion(b.ctx, ws.ID, slug, "2.0.0")
			return nil
		})
		require.NoError(t, txErr)
		require.Equal(t, draft, inTx)
	})

	t.Run("Duplicate", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws := b.fix.Workspace()
		slug := b.fix.ID("caption")

		first := record(b, ws.ID, slug, "1.0.0")
		require.NoError(t, insert(b, first))
		again := record(b, ws.ID, slug, "1.0.0")
		again.Source = []byte("changed")
		require.ErrorIs(t, insert(b, again), store.ErrAlreadyExists, "a version is never changed")

		got, err := b.store.TechniqueGetVersion(b.ctx, ws.ID, slug, "1.0.0")
		require.NoError(t, err)
		require.Equal(t, first, got)

		public := record(b, "", slug, "1.0.0")
		require.NoError(t, insert(b, public))
		require.ErrorIs(t, insert(b, record(b, "", slug, "1.0.0")), store.ErrAlreadyExists)
	})

	// The newest version is the one stored last, whatever its number says.
	t.Run("LatestList", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		wsA, wsB := b.fix.Workspace(), b.fix.Workspace()
		upscale, caption := b.fix.ID("upscale"), b.fix.ID("caption")

		recs := []*store.TechniqueRecord{
			record(b, "", upscale, "10.0.0"),
			record(b, "", upscale, "9.0.0"),
			record(b, wsA.ID, upscale, "0.1.0"),
			record(b, "", upscale, "1.5.0"), // newest public upscale
			record(b, wsB.ID, caption, "2.0.0"),
			record(b, wsA.ID, upscale, "0.0.9"), // newest of wsA
			record(b, wsB.ID, caption, "1.0.0"), // newest of wsB
		}
		for _, rec := range recs {
			require.NoError(t, insert(b, rec))
		}

		list, err := b.store.TechniqueLatestList(b.ctx)
		require.NoError(t, err)
		require.Equal(t, map[[2]string]*store.TechniqueRecord{
			{"", upscale}:     recs[3],
			{wsA.ID, upscale}: recs[5],
			{wsB.ID, caption}: recs[6],
		}, ours(t, list, upscale, caption), "one newest version per workspace and slug")

		newer := record(b, wsB.ID, caption, "0.0.1")
		require.NoError(t, insert(b, newer))
		list, err = b.store.TechniqueLatestList(b.ctx)
		require.NoError(t, err)
		require.Equal(t, newer, ours(t, list, caption)[[2]string{wsB.ID, caption}])
	})
}
