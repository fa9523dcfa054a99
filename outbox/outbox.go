// Package outbox delivers chat messages durably. A message is written to the
// outbox in the same bbolt transaction as the event it reports (Enqueue), so an
// event is never committed without its messages, and one worker goroutine per
// room then posts the room's entries in order (FIFO: the head entry is
// delivered, dead-lettered or collapsed before the next one is tried).
//
// # Cost
//
// A delivery step costs O(1) in the room's backlog unless it digests: the
// pending count comes from the room's sequence and first key (entries are
// only ever removed from a room's head, so its keys are contiguous), and only
// the head entry is decoded, once per worker while it stays the head. A
// digest decodes each entry it collapses once, reading only the members a
// digest keeps. Entries are encoded without reflection (package jsonenc and Message.AppendJSON),
// byte for byte as encoding/json would.
//
// # Delivery guarantee
//
// Delivery is at least once. On a successful Post the worker deletes the entry
// (and records the platform message ID in storage.BucketRefs) in one
// transaction. A crash after the platform accepted a message but before that
// transaction is durable re-sends exactly that entry (or that digest's entries,
// as a new digest or singly) when the bot restarts. Because each room has one
// worker that posts one message at a time, this window holds at most one
// message per room: a restart duplicates at most one message per room and
// never loses one.
//
// # Failures
//
// A RetryAfterError (HTTP 429) is waited out exactly as asked and does not
// count as an attempt. A PermanentError moves the entry to the dead letters
// (storage.BucketDead) at once. Any other error, and a room Resolve does not
// know, is retried with exponential backoff (BaseBackoff·2^attempts, capped at
// MaxBackoff, equal jitter). An entry older than MaxAge is dead-lettered
// instead of tried again; a room's expired head entries are dead-lettered
// together, up to 1000 per transaction, so a backlog that expired during an
// outage costs a few commits, not one per entry.
//
// # Rate limits and digests
//
// Each room has a token bucket from its Target.Limit, refilled 5% slower than
// the limit (one token per Per·1.05/Messages, burst Messages), so a platform
// enforcing exactly that limit does not answer 429. When a room's backlog is
// larger than the bucket can deliver within DigestAfter, the worker collapses
// the pending entries (in order, up to MaxDigest of them) into one message of
// Kind "digest" whose Digest field holds the collapsed messages; nothing is
// dropped. A digest's Text, all some platforms (HipChat) show, is bounded:
// the counts by kind, then one line per entry with its kind ("#12 resolved:
// db-1 down"), and when they do not all fit, the oldest, "… N more …" and
// the newest ones; the newest entry is always shown. A digest's Digest messages are slim: they carry what a room needs
// to show them (IncidentID, EventID, Kind, State, Title, Text, Color), not
// their Fields, User or a nested Digest, which keeps a digest of MaxDigest
// entries cheap to build, encode and store. Digests do not record message refs: an in-place update of a
// digest by one incident would overwrite the other incidents' lines, so an
// incident first shown in a digest gets its ref from its next own message.
package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/storage"
)

// KindDigest is the Message.Kind of a message that collapses a backlog.
const KindDigest = "digest"

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

// Target is where a room's messages go.
type Target struct {
	Room  adapters.Room
	Chat  adapters.Chat
	Limit Limit
}

// Options configure an Outbox.
type Options struct {
	// Resolve maps a room name to its target; false means the room is unknown
	// (its entries are retried like transient failures until MaxAge).
	Resolve func(room string) (Target, bool)
	// MaxAge is how old an entry may get before it is dead-lettered; default 24h.
	MaxAge time.Duration
	// BaseBackoff is the first retry delay; default 1s.
	BaseBackoff time.Duration
	// MaxBackoff caps the retry delay; default 5m.
	MaxBackoff time.Duration
	// DigestAfter: collapse a room's backlog when it cannot drain within this; default 1s.
	DigestAfter time.Duration
	Logger      *slog.Logger
	Metrics     prometheus.Registerer // may be nil
	Now         func() time.Time      // default time.Now
}

// Entry is one pending message for one room.
type Entry struct {
	Seq       uint64           `json:"seq"`
	Room      string           `json:"room"`
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

// Enqueue adds msg to room's outbox inside tx, the transaction that commits
// the event msg reports. Call Notify for the room once tx is committed.
func Enqueue(tx *bolt.Tx, room string, msg adapters.Message, now time.Time) (Entry, error) {
	if room == "" {
		return Entry{}, errors.New("outbox enqueue: empty room name")
	}
	root := tx.Bucket(storage.BucketOutbox)
	if root == nil {
		return Entry{}, errors.New("outbox enqueue: outbox bucket missing")
	}
	b, err := root.CreateBucketIfNotExists([]byte(room))
	if err != nil {
		return Entry{}, fmt.Errorf("outbox enqueue for room %s: %w", room, err)
	}
	seq, err := b.NextSequence()
	if err != nil {
		return Entry{}, fmt.Errorf("outbox enqueue for room %s: %w", room, err)
	}
	e := Entry{Seq: seq, Room: room, Msg: msg, Enqueued: now}
	if err := putEntry(b, e); err != nil {
		return Entry{}, fmt.Errorf("outbox enqueue for room %s: %w", room, err)
	}
	return e, nil
}

func putEntry(b *bolt.Bucket, e Entry) error {
	raw, err := appendEntry(make([]byte, 0, 512), &e)
	if err != nil {
		return fmt.Errorf("encode entry %d: %w", e.Seq, err)
	}
	return b.Put(storage.U64(e.Seq), raw)
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
		opts.MaxBackoff = 5 * time.Minute
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
		opts.Resolve = func(string) (Target, bool) { return Target{}, false }
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

func quickCount(b *bolt.Bucket) int {
	first, _ := b.Cursor().First()
	if first == nil {
		return 0
	}
	return int(b.Sequence() - storage.ParseU64(first) + 1)
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

// MessageRef returns the platform ID of the first message posted to room for
// the incident (not counting digests).
func (o *Outbox) MessageRef(incidentID uint64, room string) (string, bool) {
	var ref string
	_ = o.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(storage.BucketRefs).Get(refKey(incidentID, room)); v != nil {
			ref = string(v)
		}
		return nil
	})
	return ref, ref != ""
}

func refKey(incidentID uint64, room string) []byte {
	return append(storage.U64(incidentID), room...)
}

// worker is one room's delivery state, owned by its goroutine.
type worker struct {
	room   string
	bucket *tokenBucket
	// noDigestThrough disables digests up to this sequence after a digest was
	// refused permanently, so those entries get their own verdicts.
	noDigestThrough uint64
	// unsaved is a delivery the platform accepted whose commit failed; it is
	// retried before anything is posted again, so it is not re-sent.
	unsaved func(*bolt.Tx) error
	// head caches the decoded head entry while it is the room's first key.
	// Only this worker changes or removes existing entries (Enqueue only
	// appends), and it drops the cache whenever it writes one.
	head *Entry
}

func (o *Outbox) work(ctx context.Context, room string, wake chan struct{}) {
	defer o.wg.Done()
	o.mu.Lock()
	w := &worker{room: room, bucket: o.buckets[room]}
	o.mu.Unlock()
	// Every return hands the room back (retire already did, under the same
	// lock that saw no pending Notify), so a later Run starts a new worker.
	retired := false
	defer func() {
		if !retired {
			o.mu.Lock()
			o.release(w, wake)
			o.mu.Unlock()
		}
	}()
	for ctx.Err() == nil {
		wait, idle, err := o.step(ctx, w)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			o.log.Error("outbox delivery step failed", "room", room, "err", err)
			wait = o.opts.BaseBackoff
		}
		if idle {
			if retired = o.retire(w, wake); retired {
				return
			}
			continue
		}
		if wait > 0 && !sleep(ctx, wait) {
			return
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// step does one unit of work for w's room: it saves an unsaved delivery,
// dead-letters an expired head, or posts the head (or a digest). It returns
// how long to wait before the next step, or idle when the room is empty.
func (o *Outbox) step(ctx context.Context, w *worker) (wait time.Duration, idle bool, err error) {
	if w.unsaved != nil {
		if err := o.db.Update(context.WithoutCancel(ctx), w.unsaved); err != nil {
			return 0, false, fmt.Errorf("save delivery: %w", err)
		}
		w.unsaved = nil
	}
	head, n, err := o.cachedHead(w)
	if err != nil || n == 0 {
		return 0, n == 0 && err == nil, err
	}
	now := o.opts.Now()
	if now.Sub(head.Enqueued) > o.opts.MaxAge {
		w.head = nil
		return 0, false, o.killExpired(ctx, w.room, now, maxExpiredBatch)
	}
	if head.NextAt.After(now) {
		return head.NextAt.Sub(now), false, nil
	}
	target, ok := o.opts.Resolve(w.room)
	if !ok || target.Chat == nil {
		o.m.failures.WithLabelValues("unknown", "unresolved").Inc()
		w.head = nil
		return o.backoff(ctx, head, now, fmt.Errorf("room %q is not known", w.room))
	}
	platform := target.Chat.Platform()
	if w.bucket == nil {
		w.bucket = newTokenBucket(target.Limit, now)
	} else {
		w.bucket.setLimit(target.Limit, now)
	}
	if d := w.bucket.wait(now); d > 0 {
		return d, false, nil
	}

	batch := []Entry{head}
	if w.digestDue(head, n, now, o.opts.DigestAfter) {
		if batch, err = o.digestEntries(head, MaxDigest); err != nil {
			return 0, false, err
		}
	}
	msg := head.Msg
	if len(batch) > 1 {
		msg = digest(batch)
	}
	w.bucket.take(now)
	id, perr := target.Chat.Post(ctx, target.Room, msg)
	if perr != nil {
		if ctx.Err() != nil {
			return 0, false, fmt.Errorf("post to %s: %w", w.room, ctx.Err())
		}
		w.head = nil
		return o.failed(ctx, w, platform, head, batch, perr)
	}
	w.head = nil

	done := time.Now()
	save := deliveredFn(w.room, batch, id)
	if err := o.db.Update(context.WithoutCancel(ctx), save); err != nil {
		w.unsaved = save
		return 0, false, fmt.Errorf("save delivery of %d entries: %w", len(batch), err)
	}
	o.m.delivered.WithLabelValues(platform).Add(float64(len(batch)))
	for _, e := range batch {
		o.m.latency.WithLabelValues(platform).Observe(done.Sub(e.Enqueued).Seconds())
	}
	if len(batch) > 1 {
		o.log.Info("posted digest", "room", w.room, "entries", len(batch), "first", batch[0].Seq, "last", batch[len(batch)-1].Seq)
	}
	return 0, false, nil
}

// digestDue reports whether the backlog of n entries cannot drain within
// within and so should be collapsed.
func (w *worker) digestDue(head Entry, n int, now time.Time, within time.Duration) bool {
	if n < 2 || head.Seq <= w.noDigestThrough || w.bucket.limit.unlimited() {
		return false
	}
	l := w.bucket.limit
	drainable := math.Floor(w.bucket.available(now)) + float64(l.Messages)*float64(within)/float64(l.Per)
	return float64(n) > drainable
}

// deliveredFn deletes the delivered entries and records the first ref.
func deliveredFn(room string, batch []Entry, id string) func(*bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		b := tx.Bucket(storage.BucketOutbox).Bucket([]byte(room))
		if b == nil {
			return fmt.Errorf("room %s bucket vanished", room)
		}
		for _, e := range batch {
			if err := b.Delete(storage.U64(e.Seq)); err != nil {
				return fmt.Errorf("delete entry %d: %w", e.Seq, err)
			}
		}
		if len(batch) != 1 || id == "" || batch[0].Msg.IncidentID == 0 {
			return nil
		}
		refs := tx.Bucket(storage.BucketRefs)
		key := refKey(batch[0].Msg.IncidentID, room)
		if refs.Get(key) != nil {
			return nil
		}
		return refs.Put(key, []byte(id))
	}
}

// failed handles a Post error for head (or a digest starting at head).
func (o *Outbox) failed(ctx context.Context, w *worker, platform string, head Entry, batch []Entry, perr error) (time.Duration, bool, error) {
	now := o.opts.Now()
	if after, ok := adapters.RetryAfter(perr); ok {
		o.m.failures.WithLabelValues(platform, "rate_limited").Inc()
		o.log.Warn("rate limited by platform", "room", w.room, "platform", platform, "retry_after", after)
		if after < 0 {
			after = 0
		}
		head.NextAt = now.Add(after)
		head.LastError = perr.Error()
		w.bucket.resync(head.NextAt)
		if err := o.save(ctx, head); err != nil {
			return 0, false, err
		}
		return after, false, nil
	}
	if adapters.IsPermanent(perr) {
		o.m.failures.WithLabelValues(platform, "permanent").Inc()
		if len(batch) > 1 {
			w.noDigestThrough = batch[len(batch)-1].Seq
			o.log.Warn("digest refused; delivering its entries one by one", "room", w.room, "entries", len(batch), "err", perr)
			return 0, false, nil
		}
		o.log.Warn("delivery refused permanently", "room", w.room, "platform", platform, "seq", head.Seq, "err", perr)
		return 0, false, o.kill(ctx, w.room, head, perr.Error())
	}
	o.m.failures.WithLabelValues(platform, "transient").Inc()
	return o.backoff(ctx, head, now, perr)
}

// backoff records a transient failure of head and returns the delay before its retry.
func (o *Outbox) backoff(ctx context.Context, head Entry, now time.Time, cause error) (time.Duration, bool, error) {
	d := o.backoffDelay(head.Attempts)
	head.Attempts++
	head.NextAt = now.Add(d)
	head.LastError = cause.Error()
	o.log.Debug("delivery failed, will retry", "room", head.Room, "seq", head.Seq, "attempts", head.Attempts, "retry_in", d, "err", cause)
	if err := o.save(ctx, head); err != nil {
		return 0, false, err
	}
	return d, false, nil
}

// backoffDelay is BaseBackoff·2^attempts capped at MaxBackoff, with equal
// jitter: half of it fixed, half random.
func (o *Outbox) backoffDelay(attempts int) time.Duration {
	d := o.opts.MaxBackoff
	if attempts < 62 {
		if x := o.opts.BaseBackoff << attempts; x > 0 && x>>attempts == o.opts.BaseBackoff && x < d {
			d = x
		}
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

func (o *Outbox) save(ctx context.Context, e Entry) error {
	err := o.db.Update(context.WithoutCancel(ctx), func(tx *bolt.Tx) error {
		b := tx.Bucket(storage.BucketOutbox).Bucket([]byte(e.Room))
		if b == nil || b.Get(storage.U64(e.Seq)) == nil {
			return nil
		}
		return putEntry(b, e)
	})
	if err != nil {
		return fmt.Errorf("save entry %d of room %s: %w", e.Seq, e.Room, err)
	}
	return nil
}

// kill moves e to the dead letters.
func (o *Outbox) kill(ctx context.Context, room string, e Entry, reason string) error {
	now := o.opts.Now()
	err := o.db.Update(context.WithoutCancel(ctx), func(tx *bolt.Tx) error {
		b := tx.Bucket(storage.BucketOutbox).Bucket([]byte(room))
		if b == nil || b.Get(storage.U64(e.Seq)) == nil {
			return nil
		}
		if err := putDead(tx.Bucket(storage.BucketDead), DeadEntry{Room: room, Entry: e, Error: reason, DiedAt: now}); err != nil {
			return err
		}
		return b.Delete(storage.U64(e.Seq))
	})
	if err != nil {
		return fmt.Errorf("dead-letter entry %d of room %s: %w", e.Seq, room, err)
	}
	o.m.dead.Inc()
	o.log.Warn("message dead-lettered", "room", room, "seq", e.Seq, "incident", e.Msg.IncidentID, "reason", reason)
	return nil
}

// putDead appends d to the dead letters.
func putDead(dead *bolt.Bucket, d DeadEntry) error {
	seq, err := dead.NextSequence()
	if err != nil {
		return fmt.Errorf("next dead-letter sequence: %w", err)
	}
	raw, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("encode dead entry: %w", err)
	}
	return dead.Put(storage.U64(seq), raw)
}

// maxExpiredBatch bounds how many expired entries one transaction dead-letters.
const maxExpiredBatch = 1000

// expiredReason says why e, older than maxAge at now, was dead-lettered.
func expiredReason(e Entry, now time.Time, maxAge time.Duration) string {
	reason := fmt.Sprintf("expired after %s (max age %s)", now.Sub(e.Enqueued).Round(time.Second), maxAge)
	if e.LastError != "" {
		reason += "; last error: " + e.LastError
	}
	return reason
}

// killExpired moves the expired prefix of room's entries (those from its
// head on that are older than MaxAge at now, up to limit of them) to the
// dead letters in one transaction, oldest first, so a backlog that expired
// during an outage costs one commit per limit entries, not one per entry.
// It stops at the first entry that has not expired, keeping FIFO order.
func (o *Outbox) killExpired(ctx context.Context, room string, now time.Time, limit int) error {
	var killed []Entry
	err := o.db.Update(context.WithoutCancel(ctx), func(tx *bolt.Tx) error {
		killed = killed[:0] // the writer may run fn again
		b := tx.Bucket(storage.BucketOutbox).Bucket([]byte(room))
		if b == nil {
			return nil
		}
		dead := tx.Bucket(storage.BucketDead)
		c := b.Cursor()
		for k, v := c.First(); k != nil && len(killed) < limit; k, v = c.Next() {
			var e Entry
			if err := decodeEntry(v, &e); err != nil {
				return fmt.Errorf("decode entry %d: %w", storage.ParseU64(k), err)
			}
			e.Seq, e.Room = storage.ParseU64(k), room
			if now.Sub(e.Enqueued) <= o.opts.MaxAge {
				break
			}
			if err := putDead(dead, DeadEntry{Room: room, Entry: e, Error: expiredReason(e, now, o.opts.MaxAge), DiedAt: now}); err != nil {
				return err
			}
			killed = append(killed, e)
		}
		// Delete after the scan: deleting under a cursor skips keys.
		for _, e := range killed {
			if err := b.Delete(storage.U64(e.Seq)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("dead-letter expired entries of room %s: %w", room, err)
	}
	if len(killed) == 0 {
		return nil
	}
	o.m.dead.Add(float64(len(killed)))
	first, last := killed[0], killed[len(killed)-1]
	o.log.Warn("expired messages dead-lettered", "room", room, "entries", len(killed),
		"first_seq", first.Seq, "last_seq", last.Seq, "first_incident", first.Msg.IncidentID,
		"reason", expiredReason(first, now, o.opts.MaxAge))
	return nil
}

// head returns room's first entry and its pending count.
func (o *Outbox) head(room string) (Entry, int, error) {
	return o.cachedHead(&worker{room: room}) // a worker with nothing cached
}

// cachedHead is head for w's room, decoding the head entry only when it is
// not the one w decoded last. The pending count is constant-time.
func (o *Outbox) cachedHead(w *worker) (Entry, int, error) {
	var e Entry
	n := 0
	err := o.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(storage.BucketOutbox).Bucket([]byte(w.room))
		if b == nil {
			return nil
		}
		k, v := b.Cursor().First()
		if k == nil {
			return nil
		}
		n = quickCount(b)
		seq := storage.ParseU64(k)
		if w.head != nil && w.head.Seq == seq {
			e = *w.head
			return nil
		}
		if err := decodeEntry(v, &e); err != nil {
			return fmt.Errorf("decode entry %d: %w", seq, err)
		}
		e.Seq, e.Room = seq, w.room
		return nil
	})
	if err != nil {
		w.head = nil
		return Entry{}, 0, fmt.Errorf("read head of room %s: %w", w.room, err)
	}
	if n == 0 {
		w.head = nil
	} else {
		w.head = &e
	}
	return e, n, nil
}

// digestEntries returns head followed by up to limit-1 entries after it, in
// order. Only head is decoded in full; the others carry what a digest keeps
// of them (decodeForDigest).
func (o *Outbox) digestEntries(head Entry, limit int) ([]Entry, error) {
	out := []Entry{head}
	err := o.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(storage.BucketOutbox).Bucket([]byte(head.Room))
		if b == nil {
			return nil
		}
		c := b.Cursor()
		k, _ := c.Seek(storage.U64(head.Seq))
		if k == nil || storage.ParseU64(k) != head.Seq {
			return fmt.Errorf("head entry %d vanished", head.Seq)
		}
		if n := quickCount(b); n < limit {
			out = slices.Grow(out, n-1)
		} else {
			out = slices.Grow(out, limit-1)
		}
		for k, v := c.Next(); k != nil && len(out) < limit; k, v = c.Next() {
			var e Entry
			if err := decodeForDigest(v, &e); err != nil {
				return fmt.Errorf("decode entry %d: %w", storage.ParseU64(k), err)
			}
			e.Seq, e.Room = storage.ParseU64(k), head.Room
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read entries of room %s: %w", head.Room, err)
	}
	return out, nil
}

const (
	maxDigestText  = 1500 // bytes of entry lines a digest's text lists
	maxDigestTitle = 100  // runes per listed title
	maxDigestKind  = 20   // runes of a line's kind label
)

// digest collapses entries into one message. Its Text (all a platform like
// HipChat shows) is a header with the counts by kind ("14 alerts: 9
// triggered, 5 resolved"), then one line per entry ("#12 resolved: db-1
// down"), oldest first. When the lines do not fit in maxDigestText bytes, it
// lists the oldest entry, "… N more …", and then as many of the newest as fit:
// the newest entry is always shown, since it is the room's current news.
func digest(entries []Entry) adapters.Message {
	msgs := make([]adapters.Message, len(entries))
	counts := map[string]int{}
	for i, e := range entries {
		msgs[i] = digestChild(e.Msg)
		counts[digestKind(e.Msg)]++
	}
	kinds := make([]string, 0, len(counts))
	for k := range counts {
		kinds = append(kinds, k)
	}
	sort.Slice(kinds, func(i, j int) bool {
		if counts[kinds[i]] != counts[kinds[j]] {
			return counts[kinds[i]] > counts[kinds[j]]
		}
		return kinds[i] < kinds[j]
	})
	var sb strings.Builder
	title := strconv.Itoa(len(entries)) + " alerts"
	sb.WriteString(title)
	sb.WriteString(": ")
	for i, k := range kinds {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(strconv.Itoa(counts[k]) + " " + k)
	}
	for _, line := range digestLines(msgs, maxDigestText) {
		sb.WriteByte('\n')
		sb.WriteString(line)
	}
	return adapters.Message{
		Kind:   KindDigest,
		Title:  title,
		Text:   sb.String(),
		Color:  worstColor(msgs),
		Digest: msgs,
	}
}

// digestLines returns the lines listing msgs within budget bytes (counting a
// newline per line): all of them if they fit, else the oldest, a line
// "… N more …" and the newest that fit. The newest is always listed (a line
// is at most a few hundred bytes, well within budget).
func digestLines(msgs []adapters.Message, budget int) []string {
	n := len(msgs)
	if n == 0 {
		return nil
	}
	lines := make([]string, n) // computed on demand
	line := func(i int) string {
		if lines[i] == "" {
			lines[i] = digestLine(msgs[i])
		}
		return lines[i]
	}
	used, all := 0, true
	for i := range msgs {
		if used += len(line(i)) + 1; used > budget {
			all = false
			break
		}
	}
	if all {
		return lines
	}
	// Reserve room for the "… N more …" line.
	const reserve = len("… 1000000 more …") + 1
	newest := line(n - 1)
	used = len(newest) + 1
	first := -1
	if used+len(line(0))+1+reserve <= budget {
		first = 0
		used += len(line(0)) + 1
	}
	from := n - 1 // tail is msgs[from:]
	for from > 1 && used+len(line(from-1))+1+reserve <= budget {
		from--
		used += len(line(from)) + 1
	}
	out := make([]string, 0, n-from+2)
	if first == 0 {
		out = append(out, line(0))
	}
	if skipped := from - (first + 1); skipped > 0 {
		out = append(out, "… "+strconv.Itoa(skipped)+" more …")
	}
	return append(out, lines[from:]...)
}

// digestKind labels m in a digest: its event kind, else its incident state.
func digestKind(m adapters.Message) string {
	k := m.Kind
	if k == "" {
		k = m.State
	}
	if k == "" {
		return "other"
	}
	if r := []rune(k); len(r) > maxDigestKind {
		k = string(r[:maxDigestKind-1]) + "…"
	}
	return k
}

// digestLine is m's line in a digest: "#12 resolved: db-1 down".
func digestLine(m adapters.Message) string {
	t := m.Title
	if t == "" {
		t, _, _ = strings.Cut(m.Text, "\n")
	}
	t = strings.ReplaceAll(t, "\n", " ")
	if r := []rune(t); len(r) > maxDigestTitle {
		t = string(r[:maxDigestTitle-1]) + "…"
	}
	t = digestKind(m) + ": " + t
	if m.IncidentID != 0 {
		t = "#" + strconv.FormatUint(m.IncidentID, 10) + " " + t
	}
	return t
}

func worstColor(msgs []adapters.Message) string {
	rank := map[string]int{"red": 5, "yellow": 4, "purple": 3, "green": 2, "gray": 1}
	best := ""
	for _, m := range msgs {
		if rank[m.Color] > rank[best] {
			best = m.Color
		}
	}
	return best
}
