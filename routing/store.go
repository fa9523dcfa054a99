package routing

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/sitrep/sitrep/secret"
	"github.com/sitrep/sitrep/storage"
)

// Store holds the routes sitrep runs with: stored in bbolt with the hash of
// the config routes they were seeded from, and compiled into the Router that
// Load returns. Routes edited through Replace survive a restart until the
// config's own routes change. A Store is safe for concurrent use.
type Store struct {
	list *storage.Seeded[Rule]
	opts Options

	mu      sync.Mutex // serialises Replace
	current atomic.Pointer[Router]
}

var keyRoutes = []byte("current")

// OpenStore loads the stored routes, or seeds them from fromConfig when there
// are none or the config's routes changed since they were last seeded, and
// compiles them with opts.
func OpenStore(ctx context.Context, db *storage.DB, fromConfig []Rule, opts Options) (*Store, error) {
	s := &Store{list: storage.NewSeeded(db, storage.BucketRoutes, keyRoutes, "rules", "routes", fromConfig), opts: opts}
	rules, err := s.list.Load(ctx, fromConfig)
	if err != nil {
		return nil, err
	}
	r, err := Compile(rules, opts)
	if err != nil {
		return nil, fmt.Errorf("stored routes: %w", err)
	}
	s.current.Store(r)
	return s, nil
}

// Load returns the running router.
func (s *Store) Load() *Router { return s.current.Load() }

// Replace validates rules, stores them and swaps them in atomically. On any
// error the running routes stay as they were; a rule that does not compile
// is reported as Compile reports it (see RuleErrors).
//
// Secret-looking set values and matchers sent back as Router.Rules shows
// them redacted ("****" and the last four characters) keep the value the
// rule of the same name has now.
func (s *Store) Replace(ctx context.Context, rules []Rule) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := keepRedactedSecrets(rules, s.Load().Rules()); err != nil {
		return err
	}
	r, err := Compile(rules, s.opts)
	if err != nil {
		return err
	}
	if err := s.list.Save(ctx, rules); err != nil {
		return err
	}
	s.current.Store(r)
	return nil
}

// keepRedactedSecrets puts back the stored value of each secret-looking set
// value that is still in its redacted form, so GET then PUT of the routes
// never replaces a secret with its own redaction. A redacted value that does
// not match the stored one is an error: sitrep cannot know what was meant.
func keepRedactedSecrets(rules, current []Rule) error {
	byName := make(map[string]Rule, len(current))
	for _, r := range current {
		byName[r.Name] = r
	}
	for i := range rules {
		stored := byName[rules[i].Name]
		for j, m := range rules[i].Matchers {
			if !IsRedactedMatcher(m) {
				continue
			}
			if j >= len(stored.Matchers) || RedactMatcher(stored.Matchers[j]) != m {
				return &RuleError{Index: i, Rule: rules[i].Name, Field: fmt.Sprintf("matchers[%d]", j),
					Err: fmt.Errorf("%s compares a secret with a redacted value that matches no stored one: send the real value", m)}
			}
			rules[i].Matchers = slices.Clone(rules[i].Matchers)
			rules[i].Matchers[j] = stored.Matchers[j]
		}
		for k, v := range rules[i].Set {
			if !secret.IsRedacted(v) {
				continue
			}
			old, ok := stored.Set[k]
			hidden := ok && secret.Hides(k, old)
			if !hidden && !secret.LooksSecret(k) {
				continue // a value that only looks redacted, in a field that holds no secret
			}
			if !hidden || secret.Redact(old) != v {
				return &RuleError{Index: i, Rule: rules[i].Name, Field: "set." + k,
					Err: fmt.Errorf("%q is a redacted value that matches no stored one: send the real value", v)}
			}
			rules[i].Set = maps.Clone(rules[i].Set)
			rules[i].Set[k] = old
		}
	}
	return nil
}
