package client

import (
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
)

// Asset is a file stored by the server to use as a run input: pass its
// AssetID (or URL) as the value of a media input.
type Asset struct {
	AssetID     string  `json:"asset_id"`
	Type        string  `json:"type"`
	ContentType string  `json:"content_type"`
	SizeBytes   int64   `json:"size_bytes"`
	URL         string  `json:"url"`
	Source      *string `json:"source"`
	CreatedAt   int64   `json:"created_at"`
	ExpiresAt   *int64  `json:"expires_at"`

	// Response is the HTTP answer the asset was read from.
	Response *Response `json:"-"`
}

// AssetList is one page of assets, newest first.
type AssetList struct {
	Assets []Asset `json:"assets"`
	Page
}

// AssetsService uploads and reads assets.
type AssetsService struct{ c *Client }

// Upload sends r's bytes as a multipart upload named name (the server
// judges the type by the content, not the name). The body is streamed, so
// a large file is never held in memory.
func (s *AssetsService) Upload(ctx context.Context, name string, r io.Reader, opts ...RequestOption) (*Asset, error) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		part, err := mw.CreateFormFile("file", filepath.Base(name))
		if err == nil {
			_, err = io.Copy(part, r)
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	defer pr.Close()
	req, err := s.c.newRequest(ctx, "application/json", http.MethodPost, "/api/v1/assets", nil)
	if err != nil {
		return nil, err
	}
	req.Body = pr
	req.Header.Set("Content-Type", mw.FormDataContentType())
	out := &Asset{}
	resp, err := s.c.send(req, out, opts)
	if err != nil {
		return nil, err
	}
	out.Response = resp
	return out, nil
}

// CreateFromSource has the server fetch source (an https URL) into an asset.
func (s *AssetsService) CreateFromSource(ctx context.Context, source string, opts ...RequestOption) (*Asset, error) {
	out := &Asset{}
	resp, err := s.c.doJSON(ctx, http.MethodPost, "/api/v1/assets", map[string]string{"source": source}, out, opts...)
	if err != nil {
		return nil, err
	}
	out.Response = resp
	return out, nil
}

// Get reads one asset.
func (s *AssetsService) Get(ctx context.Context, assetID string, opts ...RequestOption) (*Asset, error) {
	out := &Asset{}
	resp, err := s.c.doJSON(ctx, http.MethodGet, "/api/v1/assets/"+url.PathEscape(assetID), nil, out, opts...)
	if err != nil {
		return nil, err
	}
	out.Response = resp
	return out, nil
}

// List returns one page of the workspace's assets; only p's Limit and
// Cursor are used.
func (s *AssetsService) List(ctx context.Context, p *ListParams, opts ...RequestOption) (*AssetList, error) {
	out := &AssetList{}
	if _, err := s.c.doJSON(ctx, http.MethodGet, "/api/v1/assets"+pageQuery(p), nil, out, opts...); err != nil {
		return nil, err
	}
	return out, nil
}

// pageQuery is "?limit=..&cursor=.." for p's set fields, or "".
func pageQuery(p *ListParams) string {
	q := url.Values{}
	if p != nil {
		if p.Limit != 0 {
			q.Set("limit", strconv.Itoa(p.Limit))
		}
		if p.Cursor != "" {
			q.Set("cursor", p.Cursor)
		}
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

// Download GETs a URL the API handed out (an output's or asset's signed
// URL, which needs no key) and copies the body to w, returning the bytes
// written. A non-2xx answer is an *APIError.
func (c *Client) Download(ctx context.Context, rawURL string, w io.Writer) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return 0, fmt.Errorf("error building request: %w", err)
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("error downloading: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
		return 0, newAPIError(&Response{StatusCode: resp.StatusCode, Header: resp.Header, Body: data})
	}
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("error downloading: %w", err)
	}
	return n, nil
}
