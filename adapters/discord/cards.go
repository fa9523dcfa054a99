package discord

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sitrep/sitrep/storage"
)

// Cards maps the Discord message of an incident's card (whose ID its thread
// shares) to the incident and the channel it is in, so what responders type
// in the thread reaches that incident. It is written when a card is posted or
// edited, and kept in storage.BucketDiscordCards.
type Cards struct{ db *storage.DB }

// NewCards returns the card map kept in db.
func NewCards(db *storage.DB) *Cards { return &Cards{db: db} }

// Card is one card's entry.
type Card struct {
	Incident uint64 `json:"incident"`
	Channel  string `json:"channel"`
}

// Put records messageID, in channelID, as incident's card.
func (c *Cards) Put(ctx context.Context, messageID, channelID string, incident uint64) error {
	raw, err := json.Marshal(Card{Incident: incident, Channel: channelID})
	if err != nil {
		return err
	}
	if got, ok := c.Get(messageID); ok && got == (Card{Incident: incident, Channel: channelID}) {
		return nil
	}
	return c.db.Update(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(storage.BucketDiscordCards).Put([]byte(messageID), raw)
	})
}

// Get returns the card whose message (or thread) ID is id.
func (c *Cards) Get(id string) (Card, bool) {
	var card Card
	var ok bool
	_ = c.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(storage.BucketDiscordCards).Get([]byte(id))
		ok = v != nil && json.Unmarshal(v, &card) == nil && card.Incident != 0
		return nil
	})
	return card, ok
}

// replays remembers the signatures of interactions taken, until their
// timestamps are too old to pass again.
type replays struct {
	mu   sync.Mutex
	seen map[string]time.Time // signature → when it stops being acceptable
}

// first reports whether sig is new, and remembers it until until.
func (r *replays) first(sig string, until, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if exp, ok := r.seen[sig]; ok && exp.After(now) {
		return false
	}
	if len(r.seen) > 1024 {
		for k, exp := range r.seen {
			if !exp.After(now) {
				delete(r.seen, k)
			}
		}
	}
	r.seen[sig] = until
	return true
}
