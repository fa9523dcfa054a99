package bot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/sitrep/sitrep/routing"
	"github.com/sitrep/sitrep/secret"
	"github.com/sitrep/sitrep/storage"
)

// storedRoutes is the route list in bbolt. ConfigHash is the hash of the
// config's routes when they were last seeded: API edits survive a restart
// until the config's own routes change.
type storedRoutes struct {
	ConfigHash string         `json:"config_hash"`
	Rules      []routing.Rule `json:"rules"`
}

var keyRoutes = []byte("current")

func hashRules(rules []routing.Rule) string {
	b, _ := json.Marshal(rules)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// loadRoutes returns the routes to run with: the stored list, unless the
// config's routes changed since they were last seeded.
func loadRoutes(ctx context.Context, db *storage.DB, fromConfig []routing.Rule) ([]routing.Rule, error) {
	want := hashRules(fromConfig)
	var cur storedRoutes
	found := false
	if err := db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(storage.BucketRoutes).Get(keyRoutes)
		if v == nil {
			return nil
		}
		found = true
		return json.Unmarshal(v, &cur)
	}); err != nil {
		return nil, fmt.Errorf("load routes: %w", err)
	}
	if found && cur.ConfigHash == want {
		return cur.Rules, nil
	}
	if err := saveRoutes(ctx, db, storedRoutes{ConfigHash: want, Rules: fromConfig}); err != nil {
		return nil, err
	}
	return fromConfig, nil
}

func saveRoutes(ctx context.Context, db *storage.DB, s storedRoutes) error {
	b, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("encode routes: %w", err)
	}
	if err := db.Update(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(storage.BucketRoutes).Put(keyRoutes, b)
	}); err != nil {
		return fmt.Errorf("store routes: %w", err)
	}
	return nil
}

// replaceRoutes validates rules, stores them and swaps them in atomically.
// On any error the running routes stay as they were.
//
// Secret-looking set values sent back as GET showed them ("****" and the last
// four characters) keep the value the rule of the same name has now.
func (b *Bot) replaceRoutes(ctx context.Context, rules []routing.Rule) error {
	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	if err := keepRedactedSecrets(rules, b.router.Load().Rules()); err != nil {
		return err
	}
	r, err := b.compile(rules)
	if err != nil {
		return err
	}
	if err := saveRoutes(ctx, b.db, storedRoutes{ConfigHash: hashRules(b.cfg.Routes), Rules: rules}); err != nil {
		return err
	}
	b.router.Store(r)
	return nil
}

// keepRedactedSecrets puts back the stored value of each secret-looking set
// value that is still in its redacted form, so GET then PUT of the routes
// never replaces a secret with its own redaction. A redacted value that does
// not match the stored one is an error: sitrep cannot know what was meant.
func keepRedactedSecrets(rules, current []routing.Rule) error {
	byName := make(map[string]routing.Rule, len(current))
	for _, r := range current {
		byName[r.Name] = r
	}
	for i := range rules {
		stored := byName[rules[i].Name]
		for j, m := range rules[i].Matchers {
			if !routing.IsRedactedMatcher(m) {
				continue
			}
			if j >= len(stored.Matchers) || routing.RedactMatcher(stored.Matchers[j]) != m {
				return &routing.RuleError{Index: i, Rule: rules[i].Name, Field: fmt.Sprintf("matchers[%d]", j),
					Err: fmt.Errorf("%s compares a secret with a redacted value that matches no stored one: send the real value", m)}
			}
			rules[i].Matchers = slices.Clone(rules[i].Matchers)
			rules[i].Matchers[j] = stored.Matchers[j]
		}
		for k, v := range rules[i].Set {
			if !secret.LooksSecret(k) || !secret.IsRedacted(v) {
				continue
			}
			old, ok := byName[rules[i].Name].Set[k]
			if !ok || secret.Redact(old) != v {
				return &routing.RuleError{Index: i, Rule: rules[i].Name, Field: "set." + k,
					Err: fmt.Errorf("%q is a redacted value that matches no stored one: send the real value", v)}
			}
			rules[i].Set = maps.Clone(rules[i].Set)
			rules[i].Set[k] = old
		}
	}
	return nil
}
