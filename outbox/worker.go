package outbox

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/render"
	"github.com/sitrep/sitrep/storage"
)

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
// dead-letters an expired head, or delivers the head (or a digest). It
// returns how long to wait before the next step, or idle when the room is
// empty.
func (o *Outbox) step(ctx context.Context, w *worker) (wait time.Duration, idle bool, err error) {
	if w.unsaved != nil {
		if err := o.db.Update(context.WithoutCancel(ctx), w.unsaved); err != nil {
			return 0, false, fmt.Errorf("save delivery: %w", err)
		}
		w.unsaved = nil
	}
	head, ref, n, err := o.cachedHead(w)
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
	ep, ok := o.opts.Resolve(w.room)
	if !ok || ep.Chat == nil {
		o.m.failures.WithLabelValues("unknown", "unresolved").Inc()
		w.head = nil
		return o.backoff(ctx, head, now, fmt.Errorf("room %q is not known", w.room))
	}
	platform := ep.Chat.Platform()
	if head.Op == adapters.OpUpdate && !ep.Chat.Capabilities().Edit {
		// The platform cannot edit (it was set up so after the update was
		// queued): every event reaches the room as its own message anyway.
		w.head = nil
		return 0, false, o.finish(ctx, w, platform, []Entry{head}, deliveredFn(w.room, []Entry{head}, 0, ""))
	}
	d, card := delivery(ep, head, ref)
	if w.bucket == nil {
		w.bucket = newTokenBucket(ep.Limit, now)
	} else {
		w.bucket.setLimit(ep.Limit, now)
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
	if len(batch) > 1 {
		d = adapters.Delivery{Room: ep.Room, Op: adapters.OpPost, Msg: render.Digest(digestMessages(batch)), Key: digestKey(w.room, batch)}
		card = false
	}
	w.bucket.take(now)
	id, perr := ep.Chat.Deliver(ctx, d)
	if perr != nil {
		if ctx.Err() != nil {
			return 0, false, fmt.Errorf("%s to %s: %w", d.Op, w.room, ctx.Err())
		}
		w.head = nil
		return o.failed(ctx, w, platform, head, batch, perr)
	}
	w.head = nil
	save := deliveredFn(w.room, batch, 0, "")
	switch {
	case len(batch) > 1:
		save = digestedFn(w.room, batch, now)
	case card:
		save = deliveredFn(w.room, batch, head.Msg.IncidentID, id)
	}
	if err := o.finish(ctx, w, platform, batch, save); err != nil {
		return 0, false, err
	}
	if len(batch) > 1 {
		o.log.Info("posted digest", "room", w.room, "entries", len(batch), "first", batch[0].Seq, "last", batch[len(batch)-1].Seq)
	}
	return 0, false, nil
}

// delivery is what the head entry asks of the platform, given the ref of its
// incident's card in the room (empty if none). card reports whether the
// posted message becomes the card: a card's own post, and an update or
// reply whose card is missing (its post was dead-lettered, or the incident was
// first shown inside a digest): an update then posts a fresh card, and a
// reply posts in the room.
func delivery(ep Endpoint, e Entry, ref string) (d adapters.Delivery, card bool) {
	d = adapters.Delivery{Room: ep.Room, Op: e.Op, Ref: ref, Msg: e.Msg, Key: e.Room + ":" + strconv.FormatUint(e.Seq, 10)}
	switch e.Op {
	case adapters.OpReply:
		if ref == "" || !ep.Chat.Capabilities().Threads {
			d.Op, d.Ref = adapters.OpPost, ""
		}
	case adapters.OpUpdate:
		if ref == "" {
			d.Op = adapters.OpPost
			return d, true
		}
	default:
		d.Ref = ""
		return d, e.Card
	}
	return d, false
}

// digestKey is the idempotency key of a digest of batch: the same for the
// same batch, and never that of one entry, so a platform that dedupes
// creates on it (Discord's nonce) never answers a digest with a lone entry's
// post, made before a crash, and never shows the rest of the batch.
func digestKey(room string, batch []Entry) string {
	return room + ":" + strconv.FormatUint(batch[0].Seq, 10) + "-" + strconv.FormatUint(batch[len(batch)-1].Seq, 10)
}

// finish commits a delivery (save) and counts it; a commit that fails is
// kept and retried before anything else is sent, so it is not sent again.
func (o *Outbox) finish(ctx context.Context, w *worker, platform string, batch []Entry, save func(*bolt.Tx) error) error {
	done := time.Now()
	if err := o.db.Update(context.WithoutCancel(ctx), save); err != nil {
		w.unsaved = save
		return fmt.Errorf("save delivery of %d entries: %w", len(batch), err)
	}
	o.m.delivered.WithLabelValues(platform).Add(float64(len(batch)))
	for _, e := range batch {
		o.m.latency.WithLabelValues(platform).Observe(done.Sub(e.Enqueued).Seconds())
	}
	return nil
}

// digestDue reports whether the backlog of n entries should be collapsed:
// it cannot drain within within at the room's rate, or its head has already
// waited longer than that.
func (w *worker) digestDue(head Entry, n int, now time.Time, within time.Duration) bool {
	if n < 2 || head.Seq <= w.noDigestThrough || head.NoDigest || head.Op == adapters.OpUpdate || w.bucket.limit.unlimited() {
		return false
	}
	if now.Sub(head.Enqueued) > within {
		// The head has waited too long already, whatever held it up (429s,
		// failures, a slow platform): show the room the newest state now.
		return true
	}
	l := w.bucket.limit
	drainable := math.Floor(w.bucket.available(now)) + float64(l.Messages)*float64(within)/float64(l.Per)
	return float64(n) > drainable
}

// deliveredFn deletes the delivered entries and, for a card, records id as
// the incident's card in the room.
func deliveredFn(room string, batch []Entry, incidentID uint64, id string) func(*bolt.Tx) error {
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
		return putRef(tx, incidentID, room, id)
	}
}

// digestMessages are the messages a digest of batch lists: card updates are
// not listed (the event that changed the card is).
func digestMessages(batch []Entry) []adapters.Message {
	msgs := make([]adapters.Message, 0, len(batch))
	for _, e := range batch {
		if e.Op != adapters.OpUpdate {
			msgs = append(msgs, e.Msg)
		}
	}
	return msgs
}

// digestedFn deletes a digested batch. The card updates in it whose card the
// room has are not lost: the newest per incident goes back to the tail of the
// room's queue, kept out of later digests, so each card ends up showing its
// incident's state once the storm has passed, unless a later update of the
// same card is queued already (it shows a newer state, and must not be
// overtaken by an older one). A digest records no ref: an
// in-place update of a digest by one incident would overwrite the others'
// lines, so an incident first shown in a digest gets its card on its next
// change.
func digestedFn(room string, batch []Entry, now time.Time) func(*bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		if err := deliveredFn(room, batch, 0, "")(tx); err != nil {
			return err
		}
		b := tx.Bucket(storage.BucketOutbox).Bucket([]byte(room))
		latest := map[uint64]int{}
		for i, e := range batch {
			if e.Op == adapters.OpUpdate && getRef(tx, e.Msg.IncidentID, room) != "" {
				latest[e.Msg.IncidentID] = i
			}
		}
		if len(latest) > 0 {
			if err := dropSuperseded(b, batch[len(batch)-1].Seq, latest); err != nil {
				return err
			}
		}
		for i, e := range batch {
			if j, ok := latest[e.Msg.IncidentID]; !ok || i != j || e.Op != adapters.OpUpdate {
				continue
			}
			if _, err := appendTo(b, room, Item{Op: adapters.OpUpdate, NoDigest: true, Msg: e.Msg}, now); err != nil {
				return fmt.Errorf("requeue card update of #%d: %w", e.Msg.IncidentID, err)
			}
		}
		return nil
	}
}

// dropSuperseded removes from latest every incident with a card update
// queued in room bucket b after seq.
func dropSuperseded(b *bolt.Bucket, seq uint64, latest map[uint64]int) error {
	c := b.Cursor()
	for k, v := c.Seek(storage.U64(seq + 1)); k != nil && len(latest) > 0; k, v = c.Next() {
		var e Entry
		if err := decodeForDigest(v, &e); err != nil {
			return fmt.Errorf("decode entry %d: %w", storage.ParseU64(k), err)
		}
		if e.Op == adapters.OpUpdate {
			delete(latest, e.Msg.IncidentID)
		}
	}
	return nil
}
