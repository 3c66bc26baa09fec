package app_test

import (
	"bytes"
	"context"
	"image/jpeg"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/stretchr/testify/require"

	"github.com/florad/florad/client"
	"github.com/florad/florad/internal/app"
	"github.com/florad/florad/internal/blob"
)

// TestS3BlobStorage runs portrait-enhancer with outputs in an S3 bucket: a
// real S3 server (gofakes3 with its in-memory backend, in process, on
// 127.0.0.1). The output URL is presigned for that server, and downloads
// the JPEG without florad in the path.
func TestS3BlobStorage(t *testing.T) {
	t.Parallel()
	backend := s3mem.New()
	require.NoError(t, backend.CreateBucket("florad-outputs"))
	s3srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(s3srv.Close)

	var dataDir string
	b := setupWith(t, setupOpts{configure: func(c *app.Config) {
		dataDir = c.DataDir
		c.BlobURL = "s3://florad-outputs/test/outputs"
		c.S3 = blob.S3Options{Endpoint: s3srv.URL, AccessKeyID: "florad", SecretAccessKey: "florad-secret",
			Region: "us-east-1", PathStyle: blob.PathStyleOn}
	}})
	ctx := context.Background()

	created, err := b.client.Runs.Create(ctx, "portrait-enhancer", &client.RunCreateParams{Mode: "async",
		Inputs: []client.Input{{ID: "input_image", Type: "imageUrl", Value: b.imageURL("portrait.png")}}})
	require.NoError(t, err)
	r := b.wait(t, b.client, "portrait-enhancer", created.RunID)
	require.Equal(t, client.StatusCompleted, r.Status, "error %s: %s", r.ErrorCode, r.ErrorMessage)
	require.Len(t, r.Outputs, 1)

	out, err := url.Parse(r.Outputs[0].URL)
	require.NoError(t, err)
	require.Equal(t, strings.TrimPrefix(s3srv.URL, "http://"), out.Host, "output URL %s must point at the bucket", out)
	require.True(t, strings.HasPrefix(out.Path, "/florad-outputs/test/outputs/runs/"+r.RunID+"/"), "path %s", out.Path)
	require.Equal(t, "86400", out.Query().Get("X-Amz-Expires"), "the API's output URL lifetime, 24 h")
	require.NotEmpty(t, out.Query().Get("X-Amz-Signature"))

	resp, err := b.http.Get(out.String())
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "body %s", body)
	require.Equal(t, "image/jpeg", resp.Header.Get("Content-Type"))
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(body))
	require.NoError(t, err, "the output is a JPEG")
	require.Equal(t, 2*testImageW, cfg.Width)
	require.Equal(t, 2*testImageH, cfg.Height)

	// Nothing went to the local folder, and florad serves no files.
	_, err = os.Stat(filepath.Join(dataDir, "blobs"))
	require.ErrorIs(t, err, os.ErrNotExist)
	_, err = b.newClient("").Do(ctx, http.MethodGet, "/files/runs/"+r.RunID+"/x.jpg?expires=1&signature=00", nil)
	apiError(t, err, http.StatusNotFound, "not_found")
}

// TestS3Assets: with blobs in S3, an upload goes to the bucket, its
// presigned url is recognised as florad's own, and a run reads it (and the
// next run reads the first one's output) from the bucket: dev mode is off,
// so the S3 server on loopback could not be fetched as a URL.
func TestS3Assets(t *testing.T) {
	t.Parallel()
	backend := s3mem.New()
	require.NoError(t, backend.CreateBucket("florad-outputs"))
	s3srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(s3srv.Close)
	b := setupWith(t, setupOpts{configure: func(c *app.Config) {
		c.Dev = false
		c.BlobURL = "s3://florad-outputs/test"
		c.S3 = blob.S3Options{Endpoint: s3srv.URL, AccessKeyID: "florad", SecretAccessKey: "florad-secret",
			Region: "us-east-1", PathStyle: blob.PathStyleOn}
	}})
	ctx := context.Background()
	a, err := b.client.Assets.Upload(ctx, "p.png", bytes.NewReader(encodePNG(t)))
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(a.URL, s3srv.URL+"/florad-outputs/test/assets/"+b.wsID+"/"), a.URL)
	obj, err := backend.HeadObject("florad-outputs", "test/assets/"+b.wsID+"/"+a.AssetID+".png")
	require.NoError(t, err)
	require.Equal(t, "image/png", obj.Metadata["Content-Type"])

	first, err := b.client.Runs.Create(ctx, "portrait-enhancer", &client.RunCreateParams{
		Inputs: []client.Input{{ID: "input_image", Type: "imageUrl", Value: a.URL}}})
	require.NoError(t, err)
	r := b.wait(t, b.client, "portrait-enhancer", first.RunID)
	require.Equal(t, client.StatusCompleted, r.Status, "error %s: %s", r.ErrorCode, r.ErrorMessage)
	next, err := b.client.Runs.Create(ctx, "social-crops", &client.RunCreateParams{
		Inputs: []client.Input{{ID: "input_image", Type: "imageUrl", Value: r.Outputs[0].URL}}})
	require.NoError(t, err)
	r = b.wait(t, b.client, "social-crops", next.RunID)
	require.Equal(t, client.StatusCompleted, r.Status, "error %s: %s", r.ErrorCode, r.ErrorMessage)
}

// TestS3BlobStorageMissingBucket: a wrong bucket stops the start, rather
// than the first run's output.
func TestS3BlobStorageMissingBucket(t *testing.T) {
	t.Parallel()
	s3srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	t.Cleanup(s3srv.Close)
	_, err := app.New(context.Background(), app.Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Workers: true,
		BlobURL: "s3://nowhere", S3: blob.S3Options{Endpoint: s3srv.URL, AccessKeyID: "k", SecretAccessKey: "s",
			Region: "us-east-1", PathStyle: blob.PathStyleOn}})
	require.ErrorContains(t, err, "does not exist")
}
