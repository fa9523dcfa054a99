package outbox

import (
	"errors"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/storage"
)

// Item is what a caller asks the outbox to do in one room.
type Item struct {
	// Op is the side effect: post, reply under the incident's card, or
	// update that card (Msg.IncidentID names the incident).
	Op adapters.Op
	// Card marks an OpPost as the incident's card in the room: its platform
	// message ID is recorded, and later replies and updates refer to it.
	Card bool
	// NoDigest keeps the entry out of digests: it is delivered on its own.
	NoDigest bool
	Msg      adapters.Message
}

// Queue enqueues items inside one transaction (see TxQueue).
type Queue struct {
	tx  *bolt.Tx
	now time.Time
}

// TxQueue returns a Queue that writes into tx, the transaction that commits
// the event its items report, so an event is never committed without them.
// Call Notify for the rooms once tx is committed.
func TxQueue(tx *bolt.Tx, now time.Time) *Queue { return &Queue{tx: tx, now: now} }

// Enqueue adds it to room's outbox.
func (q *Queue) Enqueue(room string, it Item) error {
	_, err := enqueue(q.tx, room, it, q.now)
	return err
}

// Enqueue adds a post of msg to room's outbox inside tx, the transaction that
// commits the event msg reports. Call Notify for the room once tx is committed.
func Enqueue(tx *bolt.Tx, room string, msg adapters.Message, now time.Time) (Entry, error) {
	return enqueue(tx, room, Item{Op: adapters.OpPost, Msg: msg}, now)
}

func enqueue(tx *bolt.Tx, room string, it Item, now time.Time) (Entry, error) {
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
	e, err := appendTo(b, room, it, now)
	if err != nil {
		return Entry{}, fmt.Errorf("outbox enqueue for room %s: %w", room, err)
	}
	return e, nil
}

// appendTo adds it at the tail of room's bucket b.
func appendTo(b *bolt.Bucket, room string, it Item, now time.Time) (Entry, error) {
	b.FillPercent = storage.AppendFill // appended at the tail, removed from the head
	seq, err := b.NextSequence()
	if err != nil {
		return Entry{}, err
	}
	e := Entry{Seq: seq, Room: room, Op: it.Op, Card: it.Card, NoDigest: it.NoDigest, Msg: it.Msg, Enqueued: now}
	if err := putEntry(b, e); err != nil {
		return Entry{}, err
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

// quickCount is the number of entries in a room's bucket. Entries are only
// ever removed from a room's head, so its keys are contiguous and its count
// is its last sequence minus its first key plus one.
func quickCount(b *bolt.Bucket) int {
	first, _ := b.Cursor().First()
	if first == nil {
		return 0
	}
	return int(b.Sequence() - storage.ParseU64(first) + 1)
}

// head returns room's first entry and its pending count.
func (o *Outbox) head(room string) (Entry, int, error) {
	e, _, n, err := o.cachedHead(&worker{room: room}) // a worker with nothing cached
	return e, n, err
}

// cachedHead is head for w's room, with the platform ID of the card of the
// head's incident in the room (read in the same transaction, so an update
// sees the ref its card's post recorded). It decodes the head entry only when
// it is not the one w decoded last. The pending count is constant-time.
func (o *Outbox) cachedHead(w *worker) (e Entry, ref string, n int, err error) {
	err = o.db.View(func(tx *bolt.Tx) error {
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
		} else {
			if err := decodeEntry(v, &e); err != nil {
				return fmt.Errorf("decode entry %d: %w", seq, err)
			}
			e.Seq, e.Room = seq, w.room
		}
		ref = getRef(tx, e.Msg.IncidentID, w.room)
		return nil
	})
	if err != nil {
		w.head = nil
		return Entry{}, "", 0, fmt.Errorf("read head of room %s: %w", w.room, err)
	}
	if n == 0 {
		w.head = nil
	} else {
		w.head = &e
	}
	return e, ref, n, nil
}

// digestEntries returns head followed by up to limit-1 entries after it, in
// order, stopping before the first that may not be digested. Only head and
// updates are decoded in full; the others carry what a digest keeps of them
// (decodeForDigest).
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
		out = slices.Grow(out, min(quickCount(b), limit)-1)
		for k, v := c.Next(); k != nil && len(out) < limit; k, v = c.Next() {
			var e Entry
			if err := decodeForDigest(v, &e); err != nil {
				return fmt.Errorf("decode entry %d: %w", storage.ParseU64(k), err)
			}
			if e.NoDigest {
				break
			}
			if e.Op == adapters.OpUpdate {
				if err := decodeEntry(v, &e); err != nil {
					return fmt.Errorf("decode entry %d: %w", storage.ParseU64(k), err)
				}
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
