package app_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/client"
	"github.com/florad/florad/internal/app"
	"github.com/florad/florad/internal/store"
	"github.com/florad/florad/internal/workspace"
)

// An uploaded file becomes an asset whose id feeds a run, and that run's
// output URL feeds the next run, all without florad fetching anything over
// HTTP: dev mode is off, so a loopback URL (florad's own) given as a plain
// URL would be refused.
func TestAssetsFeedRuns(t *testing.T) {
	t.Parallel()
	onBackends(t, func(t *testing.T, pg bool) {
		b := setupWith(t, setupOpts{configure: func(c *app.Config) { c.Dev = false }}.on(pg))
		ctx := t.Context()
		png := encodePNG(t)

		a, err := b.client.Assets.Upload(ctx, "portrait.bin", bytes.NewReader(png))
		require.NoError(t, err)
		require.Equal(t, http.StatusCreated, a.Response.StatusCode)
		require.Regexp(t, `^asset_[0-9a-z]{26}$`, a.AssetID)
		require.Equal(t, "imageUrl", a.Type)
		require.Equal(t, "image/png", a.ContentType, "judged by the content, not the name")
		require.Equal(t, int64(len(png)), a.SizeBytes)
		require.Nil(t, a.Source)
		require.Nil(t, a.ExpiresAt, "no retention configured")
		require.Positive(t, a.CreatedAt)

		var served bytes.Buffer
		_, err = b.client.Download(ctx, a.URL, &served)
		require.NoError(t, err)
		require.Equal(t, png, served.Bytes(), "the asset's url serves its bytes")

		got, err := b.client.Assets.Get(ctx, a.AssetID)
		require.NoError(t, err)
		require.Equal(t, a.AssetID, got.AssetID)
		require.Equal(t, a.SizeBytes, got.SizeBytes)

		// The asset id as the input value.
		run, err := b.client.Runs.Create(ctx, "portrait-enhancer", &client.RunCreateParams{
			Inputs: []client.Input{{ID: "input_image", Type: "imageUrl", Value: a.AssetID}}})
		require.NoError(t, err)
		done := b.wait(t, b.client, "portrait-enhancer", run.RunID)
		require.Equal(t, client.StatusCompleted, done.Status, "%s: %s", done.ErrorCode, done.ErrorMessage)
		require.Len(t, done.Outputs, 1)
		require.Nil(t, done.Outputs[0].ExpiresAt)

		// The first run's output URL feeds another run.
		next, err := b.client.Runs.Create(ctx, "social-crops", &client.RunCreateParams{
			Inputs: []client.Input{{ID: "input_image", Type: "IMAGE_URL", Value: done.Outputs[0].URL}}})
		require.NoError(t, err)
		nextDone := b.wait(t, b.client, "social-crops", next.RunID)
		require.Equal(t, client.StatusCompleted, nextDone.Status, "%s: %s", nextDone.ErrorCode, nextDone.ErrorMessage)
		require.Len(t, nextDone.Outputs, 3)

		// The asset's url works as an input too, and is the same request as
		// its id for idempotency.
		byID, err := b.client.Runs.Create(ctx, "social-crops", &client.RunCreateParams{IdempotencyKey: "same-asset",
			Inputs: []client.Input{{ID: "input_image", Type: "imageUrl", Value: a.AssetID}}})
		require.NoError(t, err)
		byURL, err := b.client.Runs.Create(ctx, "social-crops", &client.RunCreateParams{IdempotencyKey: "same-asset",
			Inputs: []client.Input{{ID: "input_image", Type: "imageUrl", Value: got.URL}}})
		require.NoError(t, err)
		require.Equal(t, byID.RunID, byURL.RunID)
		require.True(t, byURL.Response.Replayed())

		// Another workspace cannot see or use it.
		_, _, otherKey := b.newWorkspace(t, 50)
		other := b.newClient(otherKey)
		_, err = other.Assets.Get(ctx, a.AssetID)
		apiError(t, err, http.StatusNotFound, "not_found")
		_, err = other.Runs.Create(ctx, "portrait-enhancer", &client.RunCreateParams{
			Inputs: []client.Input{{ID: "input_image", Type: "imageUrl", Value: a.AssetID}}})
		e := apiError(t, err, http.StatusBadRequest, "input_validation_error")
		require.True(t, e.HasField("inputs[0].value"), "%s", e.Body)
		_, err = other.Runs.Create(ctx, "portrait-enhancer", &client.RunCreateParams{
			Inputs: []client.Input{{ID: "input_image", Type: "imageUrl", Value: done.Outputs[0].URL}}})
		apiError(t, err, http.StatusBadRequest, "input_validation_error")
		list, err := other.Assets.List(ctx, nil)
		require.NoError(t, err)
		require.Empty(t, list.Assets)

		// A value naming a blob directly is never taken from a client.
		_, err = b.client.Runs.Create(ctx, "portrait-enhancer", &client.RunCreateParams{
			Inputs: []client.Input{{ID: "input_image", Type: "imageUrl", Value: "blob:assets/" + b.wsID + "/x.png"}}})
		apiError(t, err, http.StatusBadRequest, "input_validation_error")
		// An asset of the wrong type.
		_, err = b.client.Runs.Create(ctx, "video-poster", &client.RunCreateParams{
			Inputs: []client.Input{{ID: "input_video", Type: "videoUrl", Value: a.AssetID}}})
		require.Error(t, err)
	})
}

func TestAssetListPages(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	var ids []string
	for i := range 5 {
		a, err := b.client.Assets.Upload(ctx, "n.txt", strings.NewReader(fmt.Sprintf("note number %d\n", i)))
		require.NoError(t, err)
		require.Equal(t, "documentUrl", a.Type)
		require.Equal(t, "text/plain", a.ContentType)
		ids = append(ids, a.AssetID)
	}
	page, err := b.client.Assets.List(ctx, &client.ListParams{Limit: 3})
	require.NoError(t, err)
	require.Len(t, page.Assets, 3)
	require.Equal(t, ids[4], page.Assets[0].AssetID, "newest first")
	require.NotEmpty(t, page.NextCursor())
	rest, err := b.client.Assets.List(ctx, &client.ListParams{Limit: 3, Cursor: page.NextCursor()})
	require.NoError(t, err)
	require.Len(t, rest.Assets, 2)
	require.Equal(t, ids[0], rest.Assets[1].AssetID)
	require.Empty(t, rest.NextCursor())

	_, err = b.client.Assets.List(ctx, &client.ListParams{Limit: 101})
	apiError(t, err, http.StatusBadRequest, "input_validation_error")
	_, err = b.client.Assets.List(ctx, &client.ListParams{Cursor: "nonsense!"})
	apiError(t, err, http.StatusBadRequest, "input_validation_error")
	_, err = b.client.Assets.Get(ctx, "asset_nope")
	apiError(t, err, http.StatusNotFound, "not_found")
}

func TestAssetRefusals(t *testing.T) {
	t.Parallel()
	b := setupWith(t, setupOpts{configure: func(c *app.Config) {
		c.MaxUploadBytes = 4 << 10
		c.StorageQuotaBytes = 10 << 10
	}})
	ctx := t.Context()

	_, err := b.client.Assets.Upload(ctx, "x.bin", bytes.NewReader([]byte{0, 1, 2, 3, 4, 5, 0xff, 0xfe}))
	e := apiError(t, err, http.StatusBadRequest, "input_validation_error")
	require.True(t, e.HasField("file"))
	require.Contains(t, e.Message, "application/octet-stream")

	_, err = b.client.Assets.Upload(ctx, "empty.png", bytes.NewReader(nil))
	apiError(t, err, http.StatusBadRequest, "input_validation_error")

	_, err = b.client.Assets.Upload(ctx, "big.txt", strings.NewReader(strings.Repeat("a", 4<<10+1)))
	e = apiError(t, err, http.StatusRequestEntityTooLarge, "payload_too_large")
	require.Contains(t, e.Message, "4 KiB")
	_, err = b.client.Assets.Upload(ctx, "fits.txt", strings.NewReader(strings.Repeat("a", 4<<10)))
	require.NoError(t, err, "exactly the limit fits")

	// Quota: 10 KiB; 4 KiB used, one more 4 KiB fits, the third does not.
	_, err = b.client.Assets.Upload(ctx, "two.txt", strings.NewReader(strings.Repeat("b", 4<<10)))
	require.NoError(t, err)
	_, err = b.client.Assets.Upload(ctx, "three.txt", strings.NewReader(strings.Repeat("c", 4<<10)))
	e = apiError(t, err, http.StatusRequestEntityTooLarge, "storage_quota_exceeded")
	require.Contains(t, e.Message, "8 KiB")
	require.Contains(t, e.Message, "10 KiB")
	list, err := b.client.Assets.List(ctx, nil)
	require.NoError(t, err)
	require.Len(t, list.Assets, 2, "the refused upload left nothing")
	files, err := filepath.Glob(filepath.Join(b.cfg.DataDir, "blobs", "assets", b.wsID, "*"))
	require.NoError(t, err)
	require.Len(t, files, 2, "nor a file")
	w, err := b.client.Workspace(ctx)
	require.NoError(t, err)
	require.InDelta(t, 8<<10, w.Limits["storage_used_bytes"], 0)
	require.InDelta(t, 10<<10, w.Limits["storage_quota_bytes"], 0)
	require.InDelta(t, 4<<10, w.Limits["max_upload_bytes"], 0)

	// Neither multipart nor JSON.
	resp, err := b.client.Do(ctx, http.MethodPost, "/api/v1/assets", nil, client.WithHeader("Content-Type", "text/plain"))
	_ = resp
	apiError(t, err, http.StatusUnsupportedMediaType, "unsupported_media_type")
	// JSON without a source, and with an unknown field.
	_, err = b.client.Do(ctx, http.MethodPost, "/api/v1/assets", []byte(`{"src":"https://x"}`))
	e = apiError(t, err, http.StatusBadRequest, "input_validation_error")
	require.True(t, e.HasField("source"))
	require.True(t, e.HasField("src"))
}

func TestAssetIdempotency(t *testing.T) {
	t.Parallel()
	onBackends(t, func(t *testing.T, pg bool) {
		b := setupWith(t, setupOpts{}.on(pg))
		ctx := t.Context()
		png := encodePNG(t)
		first, err := b.client.Assets.Upload(ctx, "a.png", bytes.NewReader(png), client.WithIdempotencyKey("up-1"))
		require.NoError(t, err)
		again, err := b.client.Assets.Upload(ctx, "a.png", bytes.NewReader(png), client.WithIdempotencyKey("up-1"))
		require.NoError(t, err)
		require.Equal(t, first.AssetID, again.AssetID)
		require.True(t, again.Response.Replayed())
		_, err = b.client.Assets.Upload(ctx, "b.png", bytes.NewReader(encodeJPEG(t)), client.WithIdempotencyKey("up-1"))
		apiError(t, err, http.StatusUnprocessableEntity, "idempotency_conflict")
		list, err := b.client.Assets.List(ctx, nil)
		require.NoError(t, err)
		require.Len(t, list.Assets, 1)
		used, err := b.app.Store.WorkspaceStorageUsed(ctx, b.wsID)
		require.NoError(t, err)
		require.Equal(t, int64(len(png)), used, "a replay is counted once")
	})
}

// A source is fetched server-side through the SSRF guard; without --dev a
// loopback source is refused with a hint saying how --dev allows it.
func TestAssetFromSource(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	a, err := b.client.Assets.CreateFromSource(ctx, b.imageURL("portrait.jpg"))
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, a.Response.StatusCode)
	require.Equal(t, "image/jpeg", a.ContentType)
	require.NotNil(t, a.Source)
	require.Equal(t, b.imageURL("portrait.jpg"), *a.Source)

	_, err = b.client.Assets.CreateFromSource(ctx, b.imageURL("missing.png"))
	e := apiError(t, err, http.StatusBadRequest, "input_validation_error")
	require.True(t, e.HasField("source"))

	strict := setupWith(t, setupOpts{configure: func(c *app.Config) { c.Dev = false }})
	_, err = strict.client.Assets.CreateFromSource(ctx, b.imageURL("portrait.jpg"))
	e = apiError(t, err, http.StatusBadRequest, "input_validation_error")
	require.Contains(t, e.Message, "--dev")
	_, err = strict.client.Runs.Create(ctx, "portrait-enhancer", &client.RunCreateParams{
		Inputs: []client.Input{{ID: "input_image", Type: "imageUrl", Value: b.imageURL("portrait.jpg")}}})
	e = apiError(t, err, http.StatusBadRequest, "input_validation_error")
	require.Contains(t, e.Message, "--dev", "a refused local input URL says how --dev allows it")
}

// With retention, assets and outputs show when they expire, and the sweep
// (the periodic maintenance job's work) deletes their files and rows.
func TestRetention(t *testing.T) {
	t.Parallel()
	onBackends(t, func(t *testing.T, pg bool) {
		b := setupWith(t, setupOpts{configure: func(c *app.Config) { c.Retention = time.Hour }}.on(pg))
		ctx := t.Context()
		a, err := b.client.Assets.Upload(ctx, "p.png", bytes.NewReader(encodePNG(t)))
		require.NoError(t, err)
		require.NotNil(t, a.ExpiresAt)
		require.Equal(t, a.CreatedAt+time.Hour.Milliseconds(), *a.ExpiresAt)

		run, err := b.client.Runs.Create(ctx, "portrait-enhancer", &client.RunCreateParams{
			Inputs: []client.Input{{ID: "input_image", Type: "imageUrl", Value: a.AssetID}}})
		require.NoError(t, err)
		done := b.wait(t, b.client, "portrait-enhancer", run.RunID)
		require.Equal(t, client.StatusCompleted, done.Status, done.ErrorMessage)
		require.NotNil(t, done.Outputs[0].ExpiresAt)
		require.Equal(t, *done.CompletedAt+time.Hour.Milliseconds(), *done.Outputs[0].ExpiresAt)
		outputURL := done.Outputs[0].URL

		// The periodic sweep ran at start and found nothing old; an hour
		// and a bit later it finds both.
		sweeper := *b.app.Assets
		sweeper.Now = func() time.Time { return time.Now().Add(time.Hour + time.Minute) }
		res, err := sweeper.Sweep(context.Background())
		require.NoError(t, err)
		require.GreaterOrEqual(t, res.Assets, 1)
		require.GreaterOrEqual(t, res.Runs, 1)

		_, err = b.client.Assets.Get(ctx, a.AssetID)
		apiError(t, err, http.StatusNotFound, "not_found")
		after, err := b.client.Runs.Get(ctx, "portrait-enhancer", run.RunID)
		require.NoError(t, err)
		require.Equal(t, client.StatusCompleted, after.Status)
		require.Empty(t, after.Outputs, "the output's file is gone")
		_, err = b.client.Download(ctx, outputURL, &bytes.Buffer{})
		apiError(t, err, http.StatusNotFound, "not_found")
		used, err := b.app.Store.WorkspaceStorageUsed(ctx, b.wsID)
		require.NoError(t, err)
		require.Zero(t, used)
		var left []string
		require.NoError(t, filepath.WalkDir(filepath.Join(b.cfg.DataDir, "blobs"), func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				left = append(left, p)
			}
			return err
		}))
		require.Empty(t, left, "no file is left")
	})
}

// The retention sweep runs as a periodic River job on the maintenance
// queue: an asset older than the retention, there when florad starts, is
// gone (row and file) soon after, with nobody calling anything.
func TestRetentionJob(t *testing.T) {
	t.Parallel()
	var oldKey, oldID, wsID, blobDir string
	b := setupWith(t, setupOpts{configure: func(c *app.Config) {
		c.Retention = time.Minute
		ctx := context.Background()
		s, err := app.OpenStore(ctx, *c)
		require.NoError(t, err)
		defer s.Close()
		ws, err := (&workspace.Service{Store: s}).Create(ctx, "Old", 0)
		require.NoError(t, err)
		wsID, oldID = ws.ID, "asset_old"
		oldKey = "assets/" + ws.ID + "/asset_old.txt"
		blobDir = filepath.Join(c.DataDir, "blobs")
		require.NoError(t, os.MkdirAll(filepath.Join(blobDir, "assets", ws.ID), 0o750))
		require.NoError(t, os.WriteFile(filepath.Join(blobDir, filepath.FromSlash(oldKey)), []byte("old notes\n"), 0o600))
		require.NoError(t, s.InTx(ctx, func(tx store.Tx) error {
			_, err := tx.AssetInsert(ctx, &store.AssetInsertParams{Asset: store.Asset{ID: oldID, WorkspaceID: ws.ID,
				Type: "documentUrl", ContentType: "text/plain", SizeBytes: 10, BlobKey: oldKey, Fingerprint: "x",
				CreatedAt: time.Now().Add(-2 * time.Minute).UnixMilli()}})
			return err
		}))
	}})
	ctx := t.Context()
	deadline := time.Now().Add(patience)
	for {
		_, err := b.app.Store.AssetGet(ctx, wsID, oldID)
		if errors.Is(err, store.ErrNotFound) {
			break
		}
		require.NoError(t, err)
		require.True(t, time.Now().Before(deadline), "the retention job did not delete the old asset")
		time.Sleep(50 * time.Millisecond)
	}
	_, err := os.Stat(filepath.Join(blobDir, filepath.FromSlash(oldKey)))
	require.ErrorIs(t, err, os.ErrNotExist, "its file too")
	used, err := b.app.Store.WorkspaceStorageUsed(ctx, wsID)
	require.NoError(t, err)
	require.Zero(t, used)
}
