package blob_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/blob"
)

// These tests talk to a real S3 server: gofakes3 with its in-memory
// backend, in process, behind an httptest server on 127.0.0.1. It speaks
// the S3 REST API (XML errors, multipart uploads, presigned query
// strings) but does not verify signatures, so the URL tests check the
// signature's presence and expiry in the URL rather than its value.

const s3Bucket = "outputs"

// s3Bundle is one fake S3 service with a bucket and a store on it.
type s3Bundle struct {
	server  *httptest.Server
	backend *s3mem.Backend
	store   *blob.S3
	// http fetches presigned URLs; closed at cleanup.
	http *http.Client
}

// s3Options points at the bundle's server with path-style addressing, as
// self-hosted services need.
func (b *s3Bundle) s3Options() blob.S3Options {
	return blob.S3Options{Endpoint: b.server.URL, AccessKeyID: "florad-test", SecretAccessKey: "florad-test-secret",
		Region: "us-east-1", PathStyle: blob.PathStyleOn}
}

// setupS3 starts the service with s3Bucket in it and opens a store on
// s3://outputs/<prefix>.
func setupS3(t *testing.T, prefix string) *s3Bundle {
	t.Helper()
	backend := s3mem.New()
	require.NoError(t, backend.CreateBucket(s3Bucket))
	server := httptest.NewServer(gofakes3.New(backend).Server())
	transport := &http.Transport{}
	b := &s3Bundle{server: server, backend: backend, http: &http.Client{Transport: transport, Timeout: 10 * time.Second}}
	t.Cleanup(func() {
		transport.CloseIdleConnections()
		server.Close()
	})
	store, err := blob.NewS3(context.Background(), "s3://"+s3Bucket+"/"+prefix, b.s3Options())
	require.NoError(t, err)
	t.Cleanup(store.Close)
	b.store = store
	return b
}

func TestS3PutGetRoundTrip(t *testing.T) {
	t.Parallel()
	b := setupS3(t, "florad/prod")
	ctx := context.Background()

	n, err := b.store.Put(ctx, "runs/run_1/enhance/output_image.jpg", bytes.NewReader([]byte("jpeg bytes")), "image/jpeg")
	require.NoError(t, err)
	require.Equal(t, int64(10), n)

	rc, err := b.store.Get(ctx, "runs/run_1/enhance/output_image.jpg")
	require.NoError(t, err)
	got, err := io.ReadAll(rc)
	require.NoError(t, err)
	require.NoError(t, rc.Close())
	require.Equal(t, "jpeg bytes", string(got))

	// The object sits under the URL's prefix, with its content type.
	obj, err := b.backend.HeadObject(s3Bucket, "florad/prod/runs/run_1/enhance/output_image.jpg")
	require.NoError(t, err)
	require.Equal(t, "image/jpeg", obj.Metadata["Content-Type"])

	t.Run("UnknownSize", func(t *testing.T) {
		// A reader without Len is read ahead up to one part and, being
		// smaller, goes up in one PUT. (Larger ones continue as multipart
		// uploads, which gofakes3 cannot take from minio-go over plain
		// http: it does not decode aws-chunked upload parts.)
		body := strings.Repeat("p", 100_000)
		n, err := b.store.Put(ctx, "runs/run_2/a.png", iotest.OneByteReader(strings.NewReader(body)), "image/png")
		require.NoError(t, err)
		require.Equal(t, int64(len(body)), n)
		rc, err := b.store.Get(ctx, "runs/run_2/a.png")
		require.NoError(t, err)
		defer rc.Close()
		got, err := io.ReadAll(rc)
		require.NoError(t, err)
		require.Equal(t, body, string(got))
	})

	t.Run("Replace", func(t *testing.T) {
		_, err := b.store.Put(ctx, "runs/run_3/x.txt", strings.NewReader("first"), "text/plain")
		require.NoError(t, err)
		_, err = b.store.Put(ctx, "runs/run_3/x.txt", strings.NewReader("second"), "text/plain")
		require.NoError(t, err)
		rc, err := b.store.Get(ctx, "runs/run_3/x.txt")
		require.NoError(t, err)
		defer rc.Close()
		got, err := io.ReadAll(rc)
		require.NoError(t, err)
		require.Equal(t, "second", string(got))
	})

	t.Run("Missing", func(t *testing.T) {
		_, err := b.store.Get(ctx, "runs/nope/x.jpg")
		require.ErrorIs(t, err, blob.ErrNotFound)
	})

	t.Run("BadKeys", func(t *testing.T) {
		for _, key := range []string{"", "/abs", "../up", "a/../../b", "a//b", `a\b`, "a/./b"} {
			_, err := b.store.Put(ctx, key, strings.NewReader("x"), "text/plain")
			require.Error(t, err, "key %q", key)
			_, err = b.store.Get(ctx, key)
			require.Error(t, err, "key %q", key)
			_, err = b.store.URL(ctx, key, time.Minute)
			require.Error(t, err, "key %q", key)
		}
	})
}

func TestS3NoPrefix(t *testing.T) {
	t.Parallel()
	b := setupS3(t, "")
	_, err := b.store.Put(context.Background(), "runs/r/o.jpg", strings.NewReader("x"), "image/jpeg")
	require.NoError(t, err)
	_, err = b.backend.HeadObject(s3Bucket, "runs/r/o.jpg")
	require.NoError(t, err)
}

// TestS3PresignedURLServesTheBlob fetches the URL over plain HTTP, with no
// credentials, as a client of the API does.
func TestS3PresignedURLServesTheBlob(t *testing.T) {
	t.Parallel()
	b := setupS3(t, "pre")
	ctx := context.Background()
	body := []byte("\xff\xd8\xff\xe0 not really a jpeg")
	_, err := b.store.Put(ctx, "runs/run_9/enhance/output_image.jpg", bytes.NewReader(body), "image/jpeg")
	require.NoError(t, err)

	raw, err := b.store.URL(ctx, "runs/run_9/enhance/output_image.jpg", 24*time.Hour)
	require.NoError(t, err)
	u, err := url.Parse(raw)
	require.NoError(t, err)
	require.Equal(t, strings.TrimPrefix(b.server.URL, "http://"), u.Host, "the URL points at the service, not at florad")
	require.Equal(t, "/"+s3Bucket+"/pre/runs/run_9/enhance/output_image.jpg", u.Path, "path-style addressing")
	q := u.Query()
	require.Equal(t, "86400", q.Get("X-Amz-Expires"), "the configured TTL")
	require.Equal(t, "AWS4-HMAC-SHA256", q.Get("X-Amz-Algorithm"))
	require.Regexp(t, `^[0-9a-f]{64}$`, q.Get("X-Amz-Signature"))
	require.True(t, strings.HasPrefix(q.Get("X-Amz-Credential"), "florad-test/"), "signed with the configured key")

	resp, err := b.http.Get(raw)
	require.NoError(t, err)
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "body: %s", got)
	require.Equal(t, "image/jpeg", resp.Header.Get("Content-Type"))
	require.Equal(t, body, got)

	t.Run("TTLClamped", func(t *testing.T) {
		for ttl, want := range map[time.Duration]string{
			30 * 24 * time.Hour:     "604800", // S3's longest: a week
			time.Millisecond:        "1",
			90 * time.Minute:        "5400",
			blob.S3MaxURLTTL:        "604800",
			blob.S3MinURLTTL:        "1",
			time.Hour + time.Second: "3601",
		} {
			raw, err := b.store.URL(ctx, "runs/run_9/enhance/output_image.jpg", ttl)
			require.NoError(t, err)
			u, err := url.Parse(raw)
			require.NoError(t, err)
			require.Equal(t, want, u.Query().Get("X-Amz-Expires"), "ttl %s", ttl)
		}
	})
}

func TestNewS3Refusals(t *testing.T) {
	t.Parallel()
	b := setupS3(t, "")
	ctx := context.Background()

	t.Run("MissingBucket", func(t *testing.T) {
		_, err := blob.NewS3(ctx, "s3://no-such-bucket/p", b.s3Options())
		require.ErrorContains(t, err, "does not exist")
	})
	t.Run("BadEndpoint", func(t *testing.T) {
		o := b.s3Options()
		o.Endpoint = "ftp://127.0.0.1:1"
		_, err := blob.NewS3(ctx, "s3://"+s3Bucket, o)
		require.ErrorContains(t, err, "endpoint")
	})
	t.Run("NothingListening", func(t *testing.T) {
		o := b.s3Options()
		o.Endpoint = "http://" + closedS3Addr(t)
		_, err := blob.NewS3(ctx, "s3://"+s3Bucket, o)
		require.Error(t, err)
	})
}

// closedS3Addr is a loopback address where nothing listens.
func closedS3Addr(t *testing.T) string {
	t.Helper()
	s := httptest.NewServer(http.NotFoundHandler())
	addr := s.Listener.Addr().String()
	s.Close()
	return addr
}

func TestParseS3URL(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string][2]string{
		"s3://bucket":              {"bucket", ""},
		"s3://bucket/":             {"bucket", ""},
		"s3://bucket/florad":       {"bucket", "florad"},
		"s3://bucket/florad/prod/": {"bucket", "florad/prod"},
		"s3://my.bucket-1/a/b/c":   {"my.bucket-1", "a/b/c"},
	} {
		bucket, prefix, err := blob.ParseS3URL(raw)
		require.NoError(t, err, raw)
		require.Equal(t, want, [2]string{bucket, prefix}, raw)
	}
	for _, raw := range []string{"", "bucket/prefix", "https://bucket/p", "s3:///p", "s3://b/a/../c", "s3://b/a//c",
		"s3://key:secret@b/p", "s3://b/p?region=x", "file:///tmp"} {
		_, _, err := blob.ParseS3URL(raw)
		require.Error(t, err, raw)
	}
}

func TestS3OptionsFromEnv(t *testing.T) {
	t.Parallel()
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}

	o, err := blob.S3OptionsFromEnv(env(
		"AWS_ENDPOINT_URL", "http://generic:9000", "FLORA_S3_ENDPOINT", "http://minio:9000",
		"AWS_ACCESS_KEY_ID", "AKID", "AWS_SECRET_ACCESS_KEY", "SECRET", "AWS_SESSION_TOKEN", "TOKEN",
		"AWS_DEFAULT_REGION", "eu-west-1", "AWS_REGION", "eu-central-1",
		"FLORA_S3_INSECURE", "1", "FLORA_S3_PATH_STYLE", "1"))
	require.NoError(t, err)
	require.Equal(t, blob.S3Options{Endpoint: "http://minio:9000", AccessKeyID: "AKID", SecretAccessKey: "SECRET",
		SessionToken: "TOKEN", Region: "eu-central-1", Insecure: true, PathStyle: blob.PathStyleOn}, o,
		"FLORA_S3_ENDPOINT and AWS_REGION win over their fallbacks")

	o, err = blob.S3OptionsFromEnv(env("AWS_ENDPOINT_URL", "https://s3.example", "AWS_DEFAULT_REGION", "eu-west-1",
		"FLORA_S3_PATH_STYLE", "0"))
	require.NoError(t, err)
	require.Equal(t, blob.S3Options{Endpoint: "https://s3.example", Region: "eu-west-1", PathStyle: blob.PathStyleOff}, o)

	o, err = blob.S3OptionsFromEnv(env())
	require.NoError(t, err)
	require.Equal(t, blob.S3Options{}, o, "nothing set: AWS, automatic addressing, ambient credentials")

	_, err = blob.S3OptionsFromEnv(env("FLORA_S3_INSECURE", "maybe"))
	require.ErrorContains(t, err, "FLORA_S3_INSECURE")
	_, err = blob.S3OptionsFromEnv(env("FLORA_S3_PATH_STYLE", "virtual"))
	require.ErrorContains(t, err, "FLORA_S3_PATH_STYLE")
}

func TestS3DeleteAndKeyFromURL(t *testing.T) {
	t.Parallel()
	b := setupS3(t, "florad/prod")
	ctx := context.Background()
	_, err := b.store.Put(ctx, "runs/run_1/s/out.png", strings.NewReader("png"), "image/png")
	require.NoError(t, err)
	u, err := b.store.URL(ctx, "runs/run_1/s/out.png", time.Hour)
	require.NoError(t, err)
	key, ok := b.store.KeyFromURL(u)
	require.True(t, ok, u)
	require.Equal(t, "runs/run_1/s/out.png", key)
	_, ok = b.store.KeyFromURL("https://elsewhere.example/florad/prod/runs/run_1/s/out.png")
	require.False(t, ok)

	require.NoError(t, b.store.Delete(ctx, key))
	_, err = b.store.Get(ctx, key)
	require.ErrorIs(t, err, blob.ErrNotFound)
	require.NoError(t, b.store.Delete(ctx, key), "deleting twice is no error")
}
