package webhooks

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/sitrep/sitrep/secret"
	"github.com/sitrep/sitrep/storage"
)

// Store holds the webhooks sitrep runs with: stored in bbolt with the hash of
// the config's webhooks they were seeded from, and compiled into the Set that
// Load returns. Webhooks replaced through Replace survive a restart until the
// config's own change. A Store is safe for concurrent use.
type Store struct {
	list *storage.Seeded[Hook]
	opts Options

	mu      sync.Mutex // serialises Replace
	current atomic.Pointer[Set]
}

var keyCurrent = []byte("current")

// OpenStore loads the stored webhooks, or seeds them from fromConfig when
// there are none or the config's webhooks changed since they were last
// seeded, and compiles them.
func OpenStore(ctx context.Context, db *storage.DB, fromConfig []Hook, opts Options) (*Store, error) {
	s := &Store{list: storage.NewSeeded(db, storage.BucketWebhooks, keyCurrent, "webhooks", "webhooks", fromConfig), opts: opts}
	hooks, err := s.list.Load(ctx, fromConfig)
	if err != nil {
		return nil, err
	}
	set, err := Compile(hooks, opts)
	if err != nil {
		return nil, fmt.Errorf("stored webhooks: %w", err)
	}
	s.current.Store(set)
	return s, nil
}

// Load returns the running webhooks.
func (s *Store) Load() *Set { return s.current.Load() }

// Replace validates hooks, stores them and swaps them in atomically. On any
// error the running webhooks stay as they were; a webhook that does not
// compile is reported as Compile reports it (see FieldErrors).
//
// A URL, header value or signing secret sent back as Redacted shows it keeps
// the value the webhook of the same name has now.
func (s *Store) Replace(ctx context.Context, hooks []Hook) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	hooks, err := keepRedacted(hooks, s.Load().Hooks())
	if err != nil {
		return err
	}
	set, err := Compile(hooks, s.opts)
	if err != nil {
		return err
	}
	if err := s.list.Save(ctx, hooks); err != nil {
		return err
	}
	s.current.Store(set)
	return nil
}

// Redacted is the webhook as every output shows it: its URL (RedactURL),
// secret-looking header values and its signing secret redacted.
func (h Hook) Redacted() Hook {
	out := h
	out.URL = RedactURL(h.URL)
	out.Headers = redactHeaders(h.Headers)
	out.SigningSecret = secret.Redact(h.SigningSecret)
	return out
}

// Redact is hooks as every output shows them (Hook.Redacted).
func Redact(hooks []Hook) []Hook {
	out := make([]Hook, len(hooks))
	for i, h := range hooks {
		out[i] = h.Redacted()
	}
	return out
}

// keepRedacted returns hooks with each value still in the redacted form
// Redacted gives replaced by the stored value it stands for, so GET then PUT
// never replaces a secret with its own redaction. A redacted value that
// matches no stored one is an error: sitrep cannot know what was meant.
func keepRedacted(hooks, current []Hook) ([]Hook, error) {
	byName := make(map[string]Hook, len(current))
	for _, h := range current {
		byName[h.Name] = h
	}
	out := make([]Hook, len(hooks))
	for i, h := range hooks {
		old, had := byName[h.Name]
		fail := func(field string) error {
			return &FieldError{Index: i, Hook: h.Name, Field: field,
				Err: fmt.Errorf("holds a redacted value (****) that matches no stored one of webhook %q: send the real value", h.Name)}
		}
		out[i] = h
		if strings.Contains(h.URL, "****") && h.URL != old.URL {
			if !had || RedactURL(old.URL) != h.URL {
				return nil, fail("url")
			}
			out[i].URL = old.URL
		}
		if secret.IsRedacted(h.SigningSecret) {
			if !had || secret.Redact(old.SigningSecret) != h.SigningSecret || old.SigningSecret == "" {
				return nil, fail("signing_secret")
			}
			out[i].SigningSecret = old.SigningSecret
		}
		cloned := false
		for k, v := range h.Headers {
			if !strings.Contains(v, "****") || old.Headers[k] == v {
				continue
			}
			ov, ok := old.Headers[k]
			if !ok || redactHeader(k, ov) != v {
				return nil, fail("headers." + k)
			}
			if !cloned {
				out[i].Headers, cloned = maps.Clone(h.Headers), true
			}
			out[i].Headers[k] = ov
		}
	}
	return out, nil
}
