package discord

import (
	"context"
	"encoding/json"
	"fmt"
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
// timestamps are too old to pass again: in storage.BucketDiscordSigs when
// it has a db (so a restart forgets none), else in memory. A signature is
// kept as its 64 decoded bytes, however its hex was written.
type replays struct {
	db   *storage.DB
	mu   sync.Mutex
	seen map[string]time.Time // signature → when it stops being acceptable
}

// first reports whether sig is new, and remembers it until until.
func (r *replays) first(ctx context.Context, sig []byte, until, now time.Time) (bool, error) {
	if r.db != nil {
		fresh := false
		err := r.db.Update(ctx, func(tx *bolt.Tx) error {
			b := tx.Bucket(storage.BucketDiscordSigs)
			if v := b.Get(sig); len(v) == 8 && time.Unix(int64(storage.ParseU64(v)), 0).After(now) {
				return nil
			}
			fresh = true
			return b.Put(sig, storage.U64(uint64(until.Unix())))
		})
		if err != nil {
			return false, fmt.Errorf("discord: remember an interaction's signature: %w", err)
		}
		return fresh, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if exp, ok := r.seen[string(sig)]; ok && exp.After(now) {
		return false, nil
	}
	if len(r.seen) > 1024 {
		r.pruneMemory(now)
	}
	r.seen[string(sig)] = until
	return true, nil
}

func (r *replays) pruneMemory(now time.Time) int {
	n := 0
	for k, exp := range r.seen {
		if !exp.After(now) {
			delete(r.seen, k)
			n++
		}
	}
	return n
}

// prune forgets the signatures that could not pass again anyway, and
// returns how many.
func (r *replays) prune(ctx context.Context, now time.Time) (int, error) {
	if r.db == nil {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.pruneMemory(now), nil
	}
	n := 0
	err := r.db.Update(ctx, func(tx *bolt.Tx) error {
		var err error
		// Kept while now is not after a signature's expiry: gone once it is.
		n, err = storage.DeleteBefore(tx.Bucket(storage.BucketDiscordSigs), uint64(now.Unix())+1)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("discord: prune signatures: %w", err)
	}
	return n, nil
}

// CardIncident is the incident a stored card entry (a value of
// storage.BucketDiscordCards) names, 0 if none: for the retention sweep.
func CardIncident(raw []byte) uint64 {
	var card Card
	if json.Unmarshal(raw, &card) != nil {
		return 0
	}
	return card.Incident
}
