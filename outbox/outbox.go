// Package outbox carries out every side effect sitrep has on a chat
// platform, durably. An entry (a post, a reply under an incident's card, or
// an update of that card: an Item) is written to the outbox in the same
// bbolt transaction as the event it reports (TxQueue), so an event is never
// committed without its deliveries, and one worker goroutine per room then
// hands the room's entries to its adapter in order (FIFO: the head entry is
// delivered, dead-lettered or collapsed before the next one is tried), as one
// adapters.Delivery each.
//
// # Cards
//
// The first post of an incident in a room is its card (Item.Card). When the
// platform accepts it, its message ID is recorded in storage.BucketRefs in the
// transaction that removes the entry. The worker reads that ref in the same
// read as the head entry and hands it with a reply (the thread's parent) or an
// update (the message to edit). An update queued behind its card's post waits
// for it in the FIFO; an update with no card (its post was dead-lettered, or
// the incident was first shown inside a digest) posts a fresh card and
// records it, and a reply with no card posts in the room.
//
// # Cost
//
// A delivery step costs O(1) in the room's backlog unless it digests: the
// pending count comes from the room's sequence and first key (entries are
// only ever removed from a room's head, so its keys are contiguous), and only
// the head entry is decoded, once per worker while it stays the head. A
// digest decodes each entry it collapses once, reading only the members a
// digest keeps. Entries are encoded without reflection (package jsonenc and
// Message.AppendJSON), byte for byte as encoding/json would.
//
// # Delivery guarantee
//
// Delivery is at least once. On a successful delivery the worker deletes the
// entry (and records a card's ref) in one transaction. A crash after the
// platform accepted a delivery but before that transaction is durable
// re-sends exactly that entry (or that digest's entries, as a new digest or
// singly) when the bot restarts. Because each room has one worker that
// delivers one entry at a time, this window holds at most one delivery per
// room: a restart duplicates at most one per room and never loses one. Each
// Delivery carries a Key that is the same on every try of its entry, so a
// platform that takes an idempotency key or nonce closes even that window.
//
// # Failures
//
// A RetryAfterError (HTTP 429) is waited out exactly as asked and does not
// count as an attempt. A PermanentError moves the entry to the dead letters
// (storage.BucketDead) at once. Any other error, and a room Resolve does not
// know, is retried with exponential backoff (BaseBackoff·2^attempts, capped at
// MaxBackoff, equal jitter). The cap bounds how long a room stays behind once
// its platform is back from an outage of any length: its head is tried at
// least every MaxBackoff (10 s by default), and its backlog then goes out as
// one digest. An entry older than MaxAge is dead-lettered
// instead of tried again; a room's expired head entries are dead-lettered
// together, up to 1000 per transaction, so a backlog that expired during an
// outage costs a few commits, not one per entry.
//
// # Rate limits and digests
//
// Each room has a token bucket from its Endpoint.Limit, refilled 5% slower
// than the limit (one token per Per·1.05/Messages, burst Messages), so a
// platform enforcing exactly that limit does not answer 429; replies and
// updates take tokens like posts. When a room's backlog is larger than the
// bucket can deliver within DigestAfter, or its head has already waited
// longer than that (429s, failures, a slow platform), the worker collapses the pending
// entries (in order, up to MaxDigest of them, stopping before one marked
// NoDigest) into one message of Kind adapters.KindDigest, rendered by
// render.Digest; nothing is dropped. Card updates in a digested batch are not
// listed in it (the events that changed the cards are); the newest per
// incident whose card exists goes back to the tail of the queue, kept out of
// digests, so every card ends up showing its incident's state. Digests record
// no ref: an in-place update of a digest by one incident would overwrite the
// other incidents' lines.
package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/storage"
)

// MaxDigest caps how many entries one digest collapses, which bounds its
// payload and its transaction; a larger backlog becomes several digests.
const MaxDigest = 1000

// rateMargin slows the local token bucket below the platform's limit.
const rateMargin = 1.05

// Limit is a room's rate limit: at most Messages per Per. Zero means unlimited.
type Limit struct {
	Messages int
	Per      time.Duration
}

func (l Limit) unlimited() bool { return l.Messages <= 0 || l.Per <= 0 }

// Endpoint is where a room's deliveries go.
type Endpoint struct {
	Room  adapters.Room
	Chat  adapters.Chat
	Limit Limit
}

// Options configure an Outbox.
type Options struct {
	// Resolve maps a room name to its target; false means the room is unknown
	// (its entries are retried like transient failures until MaxAge).
	Resolve func(room string) (Endpoint, bool)
	// MaxAge is how old an entry may get before it is dead-lettered; default 24h.
	MaxAge time.Duration
	// BaseBackoff is the first retry delay; default 1s.
	BaseBackoff time.Duration
	// MaxBackoff caps the retry delay; default 10s, so a room is tried
	// again within seconds of its platform coming back after an outage.
	MaxBackoff time.Duration
	// DigestAfter: collapse a room's backlog when it cannot drain within this; default 1s.
	DigestAfter time.Duration
	// Dead, if set, hears of each entry moved to the dead letters, after
	// the commit (a status page's refusal is told in the incident's rooms).
	// It must not block.
	Dead    func(d DeadEntry)
	Logger  *slog.Logger
	Metrics prometheus.Registerer // may be nil
	Now     func() time.Time      // default time.Now
}

// Entry is one pending side effect in one room.
type Entry struct {
	Seq       uint64           `json:"seq"`
	Room      string           `json:"room"`
	Op        adapters.Op      `json:"op,omitempty"`
	Card      bool             `json:"card,omitempty"`
	NoDigest  bool             `json:"no_digest,omitempty"`
	Msg       adapters.Message `json:"msg"`
	Enqueued  time.Time        `json:"enqueued"`
	Attempts  int              `json:"attempts,omitempty"`
	NextAt    time.Time        `json:"next_at,omitzero"`
	LastError string           `json:"last_error,omitempty"`
}

// DeadEntry is an entry the outbox gave up on.
type DeadEntry struct {
	Room   string    `json:"room"`
	Entry  Entry     `json:"entry"`
	Error  string    `json:"error"`
	DiedAt time.Time `json:"died_at"`
}

// Outbox delivers the entries Enqueue wrote.
type Outbox struct {
	db   *storage.DB
	opts Options
	log  *slog.Logger
	m    *metrics

	mu      sync.Mutex
	ctx     context.Context // Run's; nil when not running
	workers map[string]chan struct{}
	buckets map[string]*tokenBucket // a room's pacing outlives its worker
	wg      sync.WaitGroup
}

// New returns an Outbox over db. Nothing is delivered until Run.
func New(db *storage.DB, opts Options) *Outbox {
	if opts.MaxAge <= 0 {
		opts.MaxAge = 24 * time.Hour
	}
	if opts.BaseBackoff <= 0 {
		opts.BaseBackoff = time.Second
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 10 * time.Second
	}
	if opts.MaxBackoff < opts.BaseBackoff {
		opts.MaxBackoff = opts.BaseBackoff
	}
	if opts.DigestAfter <= 0 {
		opts.DigestAfter = time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Resolve == nil {
		opts.Resolve = func(string) (Endpoint, bool) { return Endpoint{}, false }
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	o := &Outbox{db: db, opts: opts, log: log, workers: map[string]chan struct{}{}, buckets: map[string]*tokenBucket{}}
	o.m = newMetrics(opts.Metrics, o.pendingTotal, log)
	return o
}

// Run delivers until ctx ends. It starts a worker for every room with pending
// entries, then one per room on Notify. It returns once all workers stopped;
// an entry whose Post was cut short by ctx stays pending.
func (o *Outbox) Run(ctx context.Context) error {
	o.mu.Lock()
	if o.ctx != nil {
		o.mu.Unlock()
		return errors.New("outbox: already running")
	}
	o.ctx = ctx
	o.mu.Unlock()

	rooms, err := o.pendingRooms()
	if err != nil {
		o.log.Error("scan pending rooms", "err", err)
	}
	o.Notify(rooms...)

	<-ctx.Done()
	o.mu.Lock()
	o.ctx = nil
	o.mu.Unlock()
	o.wg.Wait()
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	return nil
}

func (o *Outbox) pendingRooms() ([]string, error) {
	var rooms []string
	err := o.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(storage.BucketOutbox).ForEachBucket(func(k []byte) error {
			if b := tx.Bucket(storage.BucketOutbox).Bucket(k); b != nil {
				if first, _ := b.Cursor().First(); first != nil {
					rooms = append(rooms, string(k))
				}
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("scan outbox: %w", err)
	}
	return rooms, nil
}

// Notify wakes the workers of rooms (starting them as needed) after a commit
// that enqueued entries for them. It never blocks on delivery; rooms without
// entries, or unknown ones, cost a worker that finds nothing and exits.
func (o *Outbox) Notify(rooms ...string) {
	for _, room := range rooms {
		if room == "" {
			continue
		}
		// Make the platform's delivered counter visible before the first delivery.
		if t, ok := o.opts.Resolve(room); ok && t.Chat != nil {
			o.m.delivered.WithLabelValues(t.Chat.Platform())
		}
		o.mu.Lock()
		if o.ctx == nil {
			o.mu.Unlock()
			return // not running: Run scans for pending rooms when it starts
		}
		if wake, ok := o.workers[room]; ok {
			select {
			case wake <- struct{}{}:
			default:
			}
		} else {
			wake := make(chan struct{}, 1)
			o.workers[room] = wake
			o.wg.Add(1)
			go o.work(o.ctx, room, wake)
		}
		o.mu.Unlock()
	}
}

// retire removes w's worker unless a Notify arrived since it last looked.
func (o *Outbox) retire(w *worker, wake chan struct{}) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	select {
	case <-wake:
		return false
	default:
	}
	o.release(w, wake)
	return true
}

// release hands w's room back: its pacing is kept for the next worker. o.mu must be held.
func (o *Outbox) release(w *worker, wake chan struct{}) {
	if o.workers[w.room] == wake {
		delete(o.workers, w.room)
	}
	if w.bucket != nil {
		o.buckets[w.room] = w.bucket
	}
}

// Pending counts room's undelivered entries, in constant time (see pendingTotal).
func (o *Outbox) Pending(room string) (int, error) {
	n := 0
	err := o.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(storage.BucketOutbox).Bucket([]byte(room))
		if b == nil {
			return nil
		}
		n = quickCount(b)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("outbox pending %s: %w", room, err)
	}
	return n, nil
}

// pendingTotal counts all rooms' entries for the pending gauge. Entries are
// only ever removed from a room's head, so a room's keys are contiguous and
// its count is its last sequence minus its first key plus one.
func (o *Outbox) pendingTotal() float64 {
	total := 0
	_ = o.db.View(func(tx *bolt.Tx) error {
		root := tx.Bucket(storage.BucketOutbox)
		return root.ForEachBucket(func(k []byte) error {
			if b := root.Bucket(k); b != nil {
				total += quickCount(b)
			}
			return nil
		})
	})
	return float64(total)
}

// Dead lists up to limit dead-lettered entries, newest first.
func (o *Outbox) Dead(limit int) ([]DeadEntry, error) {
	out := []DeadEntry{}
	err := o.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(storage.BucketDead).Cursor()
		for k, v := c.Last(); k != nil && (limit <= 0 || len(out) < limit); k, v = c.Prev() {
			var d DeadEntry
			if err := json.Unmarshal(v, &d); err != nil {
				return fmt.Errorf("decode dead entry %d: %w", storage.ParseU64(k), err)
			}
			out = append(out, d)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("outbox dead: %w", err)
	}
	return out, nil
}
