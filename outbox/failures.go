package outbox

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/storage"
)

// failed handles a delivery error for head (or a digest starting at head).
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
	if o.opts.Dead != nil {
		o.opts.Dead(DeadEntry{Room: room, Entry: e, Error: reason, DiedAt: now})
	}
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
	if o.opts.Dead != nil {
		for _, e := range killed {
			o.opts.Dead(DeadEntry{Room: room, Entry: e, Error: expiredReason(e, now, o.opts.MaxAge), DiedAt: now})
		}
	}
	return nil
}
