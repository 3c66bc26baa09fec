package technique

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/florad/florad/internal/store"
)

// Library is the set of techniques a workspace can run: public ones and its
// own, each at its newest version, stored in the database so that every
// process sees what `florad techniques apply` added. Older versions stay
// stored, and a run always executes the version it started with.
type Library struct {
	store  store.Reader
	models Models
	// refresh is how stale the list of newest versions may be. A version
	// applied from another process shows up within this time.
	refresh time.Duration
	now     func() time.Time

	mu       sync.Mutex
	loadedAt time.Time
	latest   map[string]map[string]*Technique // workspace ("" public) → slug → newest
	parsed   map[string]*Technique            // workspace/slug/version → parsed definition
}

// LibraryRefreshDefault is the default staleness bound of a Library.
const LibraryRefreshDefault = 2 * time.Second

// NewLibrary returns a library over the store's techniques.
func NewLibrary(s store.Reader, models Models, refresh time.Duration) *Library {
	if refresh <= 0 {
		refresh = LibraryRefreshDefault
	}
	return &Library{store: s, models: models, refresh: refresh, now: time.Now, parsed: map[string]*Technique{}}
}

// Models returns the models techniques are checked against.
func (l *Library) Models() Models { return l.models }

// Apply checks a definition and stores it as a new version, public when
// workspaceID is "". Applying the same definition again changes nothing.
func (l *Library) Apply(ctx context.Context, s store.Store, workspaceID, source string, data []byte) (*Technique, bool, error) {
	t, err := Parse(source, data, l.models)
	if err != nil {
		return nil, false, err
	}
	created := true
	err = s.InTx(ctx, func(tx store.Tx) error {
		// The newest version is the one created last, so created_at must
		// grow per slug even when two versions arrive within a millisecond;
		// a tie would let either one be "newest".
		at := l.now().UnixMilli()
		recs, err := tx.TechniqueLatestList(ctx)
		if err != nil {
			return err
		}
		for _, r := range recs {
			if r.WorkspaceID == workspaceID && r.Slug == t.Slug && r.CreatedAt >= at {
				at = r.CreatedAt + 1
			}
		}
		return tx.TechniqueInsert(ctx, &store.TechniqueRecord{WorkspaceID: workspaceID, Slug: t.Slug,
			Version: t.Version, Source: data, CreatedAt: at})
	})
	if errors.Is(err, store.ErrAlreadyExists) {
		created, err = false, nil
	}
	if err != nil {
		return nil, false, err
	}
	l.mu.Lock()
	l.loadedAt = time.Time{} // see it at once in this process
	l.mu.Unlock()
	return t, created, nil
}

func key(workspaceID, slug, version string) string { return workspaceID + "/" + slug + "/" + version }

func (l *Library) parse(r *store.TechniqueRecord) (*Technique, error) {
	k := key(r.WorkspaceID, r.Slug, r.Version)
	if t, ok := l.parsed[k]; ok {
		return t, nil
	}
	t, err := Parse(fmt.Sprintf("technique %s version %s", r.Slug, r.Version), r.Source, l.models)
	if err != nil {
		return nil, err
	}
	t.WorkspaceID = r.WorkspaceID
	l.parsed[k] = t
	return t, nil
}

// load refreshes the newest versions when they are older than refresh.
func (l *Library) load(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.latest != nil && l.now().Sub(l.loadedAt) < l.refresh {
		return nil
	}
	recs, err := l.store.TechniqueLatestList(ctx)
	if err != nil {
		return err
	}
	latest := map[string]map[string]*Technique{}
	for _, r := range recs {
		t, err := l.parse(r)
		if err != nil {
			// A definition stored by a newer binary may name models this one
			// lacks; it stays invisible here rather than breaking the list.
			continue
		}
		if latest[r.WorkspaceID] == nil {
			latest[r.WorkspaceID] = map[string]*Technique{}
		}
		latest[r.WorkspaceID][r.Slug] = t
	}
	l.latest, l.loadedAt = latest, l.now()
	return nil
}

// Get finds the newest version of a technique the workspace can see, by
// slug or tech_ id; the workspace's own shadows a public one.
func (l *Library) Get(ctx context.Context, workspaceID, slugOrID string) (*Technique, bool, error) {
	if err := l.load(ctx); err != nil {
		return nil, false, err
	}
	slug := strings.TrimPrefix(slugOrID, "tech_")
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, ws := range []string{workspaceID, ""} {
		if t, ok := l.latest[ws][slug]; ok {
			if strings.HasPrefix(slugOrID, "tech_") && t.ID != slugOrID {
				return nil, false, nil
			}
			return t, true, nil
		}
	}
	return nil, false, nil
}

// Version returns the exact version a run started with.
func (l *Library) Version(ctx context.Context, workspaceID, slug, version string) (*Technique, error) {
	// Both places in memory first: a run of a public technique would
	// otherwise ask the store for a workspace copy every time. A version is
	// the hash of its bytes, so either copy is the same technique.
	l.mu.Lock()
	for _, ws := range []string{workspaceID, ""} {
		if t, ok := l.parsed[key(ws, slug, version)]; ok {
			l.mu.Unlock()
			return t, nil
		}
	}
	l.mu.Unlock()
	for _, ws := range []string{workspaceID, ""} {
		r, err := l.store.TechniqueGetVersion(ctx, ws, slug, version)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.parse(r)
	}
	return nil, fmt.Errorf("technique %s version %s: %w", slug, version, store.ErrNotFound)
}

// List returns the techniques the workspace sees whose name or slug contains
// query, ordered by slug, after the slug `after`, at most limit, and whether
// more follow.
func (l *Library) List(ctx context.Context, workspaceID, query, after string, limit int) ([]*Technique, bool, error) {
	if err := l.load(ctx); err != nil {
		return nil, false, err
	}
	l.mu.Lock()
	visible := map[string]*Technique{}
	for slug, t := range l.latest[""] {
		visible[slug] = t
	}
	for slug, t := range l.latest[workspaceID] {
		visible[slug] = t
	}
	l.mu.Unlock()
	all := make([]*Technique, 0, len(visible))
	for _, t := range visible {
		all = append(all, t)
	}
	slices.SortFunc(all, func(a, b *Technique) int { return strings.Compare(a.Slug, b.Slug) })
	q := strings.ToLower(strings.TrimSpace(query))
	var page []*Technique
	for _, t := range all {
		if after != "" && t.Slug <= after {
			continue
		}
		if q != "" && !strings.Contains(strings.ToLower(t.Name), q) && !strings.Contains(t.Slug, q) {
			continue
		}
		if len(page) == limit {
			return page, true, nil
		}
		page = append(page, t)
	}
	return page, false, nil
}
