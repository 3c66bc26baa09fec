package technique

import (
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// Catalog is the set of techniques a server offers. Built-in techniques are
// public: every workspace sees them.
type Catalog struct {
	list   []*Technique
	bySlug map[string]*Technique
}

// LoadDir parses every *.yaml file of dir in fsys. One bad file fails the
// whole load, naming the file: a server must not start with half a catalog.
func LoadDir(fsys fs.FS, dir string, models Models) (*Catalog, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("error reading techniques: %w", err)
	}
	c := &Catalog{bySlug: map[string]*Technique{}}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".yaml") && !strings.HasSuffix(e.Name(), ".yml") {
			continue
		}
		p := path.Join(dir, e.Name())
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return nil, fmt.Errorf("error reading %s: %w", p, err)
		}
		t, err := Parse(p, data, models)
		if err != nil {
			return nil, err
		}
		if err := c.add(t); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func (c *Catalog) add(t *Technique) error {
	if prev, dup := c.bySlug[t.Slug]; dup {
		return fmt.Errorf("%s: slug %q is already defined by %s", t.Source, t.Slug, prev.Source)
	}
	c.bySlug[t.Slug] = t
	c.list = append(c.list, t)
	slices.SortFunc(c.list, func(a, b *Technique) int { return strings.Compare(a.Slug, b.Slug) })
	return nil
}

// Get finds a technique by slug or by its tech_ id.
func (c *Catalog) Get(slugOrID string) (*Technique, bool) {
	t, ok := c.bySlug[strings.TrimPrefix(slugOrID, "tech_")]
	if !ok {
		return nil, false
	}
	if strings.HasPrefix(slugOrID, "tech_") && t.ID != slugOrID {
		return nil, false
	}
	return t, true
}

// List returns the techniques whose name or slug contains query (case-
// insensitive), ordered by slug, starting after the slug `after`, at most
// limit of them; more reports whether others follow.
func (c *Catalog) List(query, after string, limit int) (page []*Technique, more bool) {
	q := strings.ToLower(strings.TrimSpace(query))
	for _, t := range c.list {
		if after != "" && t.Slug <= after {
			continue
		}
		if q != "" && !strings.Contains(strings.ToLower(t.Name), q) && !strings.Contains(t.Slug, q) {
			continue
		}
		if len(page) == limit {
			return page, true
		}
		page = append(page, t)
	}
	return page, false
}

// All returns every technique, ordered by slug.
func (c *Catalog) All() []*Technique { return slices.Clone(c.list) }
