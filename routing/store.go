package routing

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"

	"github.com/sitrep/sitrep/secret"
	"github.com/sitrep/sitrep/storage"
)

// Store holds the routes sitrep runs with: stored in bbolt with the hash of
// the config routes they were seeded from, and compiled into the Router that
// Load returns. Routes edited through Replace survive a restart until the
// config's own routes change. A Store is safe for concurrent use.
type Store struct {
	db         *storage.DB
	opts       Options
	configHash string // of the config routes the store was opened with

	mu      sync.Mutex // serialises Replace
	current atomic.Pointer[Router]
}

// storedRoutes is the route list in bbolt.
type storedRoutes struct {
	ConfigHash string `json:"config_hash"`
	Rules      []Rule `json:"rules"`
}

var keyRoutes = []byte("current")

// OpenStore loads the stored routes, or seeds them from fromConfig when there
// are none or the config's routes changed since they were last seeded, and
// compiles them with opts.
func OpenStore(ctx context.Context, db *storage.DB, fromConfig []Rule, opts Options) (*Store, error) {
	s := &Store{db: db, opts: opts, configHash: hashRules(fromConfig)}
	rules, err := s.load(ctx, fromConfig)
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
	if err := s.save(ctx, storedRoutes{ConfigHash: s.configHash, Rules: rules}); err != nil {
		return err
	}
	s.current.Store(r)
	return nil
}

func hashRules(rules []Rule) string {
	b, _ := json.Marshal(rules)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// load returns the routes to run with: the stored list, unless the config's
// routes changed since they were last seeded.
func (s *Store) load(ctx context.Context, fromConfig []Rule) ([]Rule, error) {
	var cur storedRoutes
	found := false
	if err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(storage.BucketRoutes).Get(keyRoutes)
		if v == nil {
			return nil
		}
		found = true
		return json.Unmarshal(v, &cur)
	}); err != nil {
		return nil, fmt.Errorf("load routes: %w", err)
	}
	if found && cur.ConfigHash == s.configHash {
		return cur.Rules, nil
	}
	if err := s.save(ctx, storedRoutes{ConfigHash: s.configHash, Rules: fromConfig}); err != nil {
		return nil, err
	}
	return fromConfig, nil
}

func (s *Store) save(ctx context.Context, sr storedRoutes) error {
	b, err := json.Marshal(sr)
	if err != nil {
		return fmt.Errorf("encode routes: %w", err)
	}
	if err := s.db.Update(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(storage.BucketRoutes).Put(keyRoutes, b)
	}); err != nil {
		return fmt.Errorf("store routes: %w", err)
	}
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
