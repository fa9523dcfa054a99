package statuspage

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"

	bolt "go.etcd.io/bbolt"

	"github.com/sitrep/sitrep/config"
	"github.com/sitrep/sitrep/storage"
)

// Pages keeps the status pages sitrep publishes on, hook URLs included, in
// bbolt (storage.BucketStatusConfigs), with a copy in memory for lookups on
// the delivery path. The config's pages are written over the stored ones at
// start; the admin API changes them at run time.
type Pages struct {
	db *storage.DB

	mu sync.RWMutex
	m  map[string]config.StatusPage
}

// OpenPages loads the stored pages and writes seed (the config's) over them.
func OpenPages(ctx context.Context, db *storage.DB, seed []config.StatusPage) (*Pages, error) {
	p := &Pages{db: db, m: map[string]config.StatusPage{}}
	err := db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(storage.BucketStatusConfigs).ForEach(func(k, v []byte) error {
			var sp config.StatusPage
			if err := json.Unmarshal(v, &sp); err != nil {
				return fmt.Errorf("decode status page %q: %w", k, err)
			}
			p.m[string(k)] = sp
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("load status pages: %w", err)
	}
	for _, sp := range seed {
		if err := p.Put(ctx, sp); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// Get returns the page named name.
func (p *Pages) Get(name string) (config.StatusPage, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	sp, ok := p.m[name]
	return sp, ok
}

// List returns every page, sorted by name.
func (p *Pages) List() []config.StatusPage {
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := make([]config.StatusPage, 0, len(p.m))
	for _, sp := range p.m {
		out = append(out, sp)
	}
	slices.SortFunc(out, func(a, b config.StatusPage) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Put stores sp (already checked) under its name.
func (p *Pages) Put(ctx context.Context, sp config.StatusPage) error {
	raw, err := json.Marshal(sp)
	if err != nil {
		return fmt.Errorf("encode status page %s: %w", sp.Name, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	err = p.db.Update(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(storage.BucketStatusConfigs).Put([]byte(sp.Name), raw)
	})
	if err != nil {
		return fmt.Errorf("store status page %s: %w", sp.Name, err)
	}
	p.m[sp.Name] = sp
	return nil
}
