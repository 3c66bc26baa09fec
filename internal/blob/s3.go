package blob

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3 keeps blobs in a bucket of any S3-compatible service (AWS S3, MinIO,
// Ceph, R2, versitygw, ...) and hands out presigned GET URLs, so clients
// download outputs from the service itself and florad never serves them.
// Every process of one deployment must be given the same bucket and prefix.
type S3 struct {
	client    *minio.Client
	transport *http.Transport // ours to close; nil when the caller gave one
	bucket    string
	prefix    string // "" or ends with "/"
}

// S3Options says how to reach the service holding the bucket. The bucket
// and prefix come from the blob URL, s3://bucket/prefix.
type S3Options struct {
	// Endpoint is the service's host[:port], or a URL whose scheme then
	// decides between http and https. Defaults to "s3.amazonaws.com".
	Endpoint string
	// AccessKeyID and SecretAccessKey sign requests; SessionToken goes with
	// temporary credentials. When AccessKeyID is empty, credentials come
	// from the shared AWS credentials file or the instance/container role.
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	// Region of the bucket. When empty it is asked of the service once per
	// bucket (which the credentials must allow).
	Region string
	// Insecure talks plain http to an endpoint given without a scheme.
	Insecure bool
	// PathStyle is the addressing: PathStyleAuto (virtual-host style for
	// AWS, path style for anything else), PathStyleOn (endpoint/bucket/key,
	// what most self-hosted services need) or PathStyleOff
	// (bucket.endpoint/key).
	PathStyle PathStyle
	// Transport carries the requests. Defaults to a transport of the
	// store's own, closed by Close.
	Transport http.RoundTripper
}

// PathStyle is the bucket addressing of S3Options.
type PathStyle int

// PathStyle values.
const (
	PathStyleAuto PathStyle = iota
	PathStyleOn
	PathStyleOff
)

// S3 presigned URLs cannot live shorter than a second or longer than a
// week; URL clamps its ttl to this range.
const (
	S3MinURLTTL = time.Second
	S3MaxURLTTL = 7 * 24 * time.Hour
)

// S3OptionsFromEnv reads the variables S3 tools commonly use:
// FLORA_S3_ENDPOINT (else AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL),
// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION
// (else AWS_DEFAULT_REGION), FLORA_S3_INSECURE=1 (plain http for an
// endpoint without a scheme) and FLORA_S3_PATH_STYLE (1: path style, 0:
// virtual-host style; unset: automatic). getenv is os.Getenv outside tests.
func S3OptionsFromEnv(getenv func(string) string) (S3Options, error) {
	first := func(names ...string) string {
		for _, n := range names {
			if v := strings.TrimSpace(getenv(n)); v != "" {
				return v
			}
		}
		return ""
	}
	o := S3Options{
		Endpoint:        first("FLORA_S3_ENDPOINT", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"),
		AccessKeyID:     first("AWS_ACCESS_KEY_ID"),
		SecretAccessKey: first("AWS_SECRET_ACCESS_KEY"),
		SessionToken:    first("AWS_SESSION_TOKEN"),
		Region:          first("AWS_REGION", "AWS_DEFAULT_REGION"),
	}
	var err error
	if o.Insecure, err = envBool(getenv, "FLORA_S3_INSECURE"); err != nil {
		return S3Options{}, err
	}
	if strings.TrimSpace(getenv("FLORA_S3_PATH_STYLE")) != "" {
		on, err := envBool(getenv, "FLORA_S3_PATH_STYLE")
		if err != nil {
			return S3Options{}, err
		}
		o.PathStyle = PathStyleOff
		if on {
			o.PathStyle = PathStyleOn
		}
	}
	return o, nil
}

func envBool(getenv func(string) string, name string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(getenv(name))) {
	case "", "0", "false", "no", "off":
		return false, nil
	case "1", "true", "yes", "on":
		return true, nil
	}
	return false, fmt.Errorf("%s: want 1 or 0, got %q", name, getenv(name))
}

// ParseS3URL splits s3://bucket/prefix. The prefix may be empty; keys are
// stored under prefix + "/" + key.
func ParseS3URL(raw string) (bucket, prefix string, err error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "s3" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", "", fmt.Errorf("blob URL %q: want s3://bucket or s3://bucket/prefix", raw)
	}
	prefix = strings.Trim(u.Path, "/")
	if prefix != "" && path.Clean(prefix) != prefix {
		return "", "", fmt.Errorf("blob URL %q: the prefix must be a clean path", raw)
	}
	return u.Host, prefix, nil
}

// NewS3 opens the bucket named by blobURL (s3://bucket/prefix) and checks
// that it exists, so that a wrong bucket, endpoint or key fails at start
// rather than at the first run's output. A refused check (credentials that
// may write objects but not look at the bucket) is let through.
func NewS3(ctx context.Context, blobURL string, o S3Options) (*S3, error) {
	bucket, prefix, err := ParseS3URL(blobURL)
	if err != nil {
		return nil, err
	}
	endpoint, secure := o.Endpoint, !o.Insecure
	if endpoint == "" {
		endpoint = "s3.amazonaws.com"
	}
	if strings.Contains(endpoint, "://") {
		u, err := url.Parse(endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.Trim(u.Path, "/") != "" {
			return nil, fmt.Errorf("S3 endpoint %q: want host[:port] or http(s)://host[:port]", o.Endpoint)
		}
		endpoint, secure = u.Host, u.Scheme == "https"
	}

	s := &S3{bucket: bucket}
	if prefix != "" {
		s.prefix = prefix + "/"
	}
	transport := o.Transport
	if transport == nil {
		if s.transport, err = minio.DefaultTransport(secure); err != nil {
			return nil, fmt.Errorf("error making S3 transport: %w", err)
		}
		transport = s.transport
	}
	creds := credentials.NewStaticV4(o.AccessKeyID, o.SecretAccessKey, o.SessionToken)
	if o.AccessKeyID == "" {
		creds = credentials.NewChainCredentials([]credentials.Provider{
			&credentials.FileAWSCredentials{}, &credentials.IAM{},
		})
	}
	lookup := minio.BucketLookupAuto
	switch o.PathStyle {
	case PathStyleOn:
		lookup = minio.BucketLookupPath
	case PathStyleOff:
		lookup = minio.BucketLookupDNS
	}
	s.client, err = minio.New(endpoint, &minio.Options{
		Creds: creds, Secure: secure, Region: o.Region, BucketLookup: lookup, Transport: transport,
		// Run steps retry as a whole; a few quick retries of one request
		// are enough here.
		MaxRetries: 3,
	})
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("error making S3 client for %s: %w", endpoint, err)
	}

	ok, err := s.client.BucketExists(ctx, bucket)
	switch {
	case err != nil && minio.ToErrorResponse(err).StatusCode == http.StatusForbidden:
	case err != nil:
		s.Close()
		return nil, fmt.Errorf("error checking S3 bucket %s at %s: %w", bucket, endpoint, err)
	case !ok:
		s.Close()
		return nil, fmt.Errorf("S3 bucket %s does not exist at %s", bucket, endpoint)
	}
	return s, nil
}

// Close releases the idle connections of the store's own transport.
func (s *S3) Close() {
	if s.transport != nil {
		s.transport.CloseIdleConnections()
	}
}

// object maps a key to its object name, refusing keys Local refuses too,
// so both stores accept the same keys.
func (s *S3) object(key string) (string, error) {
	if key == "" || strings.Contains(key, "\\") || strings.HasPrefix(key, "/") || path.Clean("/"+key) != "/"+key {
		return "", fmt.Errorf("invalid blob key %q", key)
	}
	return s.prefix + key, nil
}

// s3PartSize is the part size of multipart uploads of unknown length.
const s3PartSize = 16 << 20

// sizer is what bytes.Reader, bytes.Buffer and strings.Reader have.
type sizer interface{ Len() int }

// Put uploads the reader's bytes. One PUT (or one multipart upload, for
// large blobs of unknown size) either creates the whole object or nothing,
// so readers never see a partial blob.
func (s *S3) Put(ctx context.Context, key string, r io.Reader, contentType string) (int64, error) {
	name, err := s.object(key)
	if err != nil {
		return 0, err
	}
	size := int64(-1)
	opts := minio.PutObjectOptions{ContentType: contentType}
	if l, ok := r.(sizer); ok {
		size = int64(l.Len())
	} else {
		// Of unknown size: read up to one part. Most outputs fit and go up
		// in one PUT rather than a three-request multipart upload; larger
		// ones continue in parts of that size (minio-go would otherwise
		// size its part buffers for a 5 TiB object).
		head, err := io.ReadAll(io.LimitReader(r, s3PartSize+1))
		if err != nil {
			return 0, fmt.Errorf("error reading blob %s: %w", key, err)
		}
		if len(head) <= s3PartSize {
			r, size = bytes.NewReader(head), int64(len(head))
		} else {
			r, opts.PartSize = io.MultiReader(bytes.NewReader(head), r), s3PartSize
		}
	}
	info, err := s.client.PutObject(ctx, s.bucket, name, r, size, opts)
	if err != nil {
		return 0, fmt.Errorf("error writing blob %s to S3: %w", key, err)
	}
	return info.Size, nil
}

// Get opens a blob; ErrNotFound when no object has that key.
func (s *S3) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	name, err := s.object(key)
	if err != nil {
		return nil, err
	}
	obj, err := s.client.GetObject(ctx, s.bucket, name, minio.GetObjectOptions{})
	if err == nil {
		// GetObject is lazy; Stat makes the request, so that a missing
		// object is reported here rather than at the first Read.
		_, err = obj.Stat()
	}
	if err != nil {
		if obj != nil {
			obj.Close()
		}
		if minio.ToErrorResponse(err).Code == minio.NoSuchKey {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("error reading blob %s from S3: %w", key, err)
	}
	return obj, nil
}

// URL presigns a GET of the object, valid for ttl clamped to
// [S3MinURLTTL, S3MaxURLTTL]. Presigning is computed locally (once the
// bucket's region is known), so it costs no request per URL; it does not
// check that the object exists.
func (s *S3) URL(ctx context.Context, key string, ttl time.Duration) (string, error) {
	name, err := s.object(key)
	if err != nil {
		return "", err
	}
	u, err := s.client.PresignedGetObject(ctx, s.bucket, name, min(max(ttl, S3MinURLTTL), S3MaxURLTTL), nil)
	if err != nil {
		return "", fmt.Errorf("error presigning blob %s: %w", key, err)
	}
	return u.String(), nil
}

// Delete removes the object; S3 answers a missing one with success.
func (s *S3) Delete(ctx context.Context, key string) error {
	name, err := s.object(key)
	if err != nil {
		return err
	}
	if err := s.client.RemoveObject(ctx, s.bucket, name, minio.RemoveObjectOptions{}); err != nil &&
		minio.ToErrorResponse(err).Code != minio.NoSuchKey {
		return fmt.Errorf("error deleting blob %s from S3: %w", key, err)
	}
	return nil
}

// KeyFromURL recognises the presigned URLs URL makes: the bucket's
// endpoint, host and object path under the prefix, whatever the query.
func (s *S3) KeyFromURL(rawURL string) (string, bool) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", false
	}
	// A presigned URL of a placeholder object shows where objects live,
	// in whichever addressing style the client uses; it is computed
	// locally.
	const probe = "florad-probe"
	p, err := s.client.PresignedGetObject(context.Background(), s.bucket, s.prefix+probe, time.Minute, nil)
	if err != nil || !strings.EqualFold(u.Scheme, p.Scheme) || !strings.EqualFold(u.Host, p.Host) {
		return "", false
	}
	base := strings.TrimSuffix(p.Path, probe)
	if !strings.HasPrefix(u.Path, base) {
		return "", false
	}
	key := strings.TrimPrefix(u.Path, base)
	if _, err := s.object(key); err != nil {
		return "", false
	}
	return key, true
}
