package webroom

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/storage"
)

// A responder's line is written twice in one transaction: to the room's log
// (what the room shows) and to the inbox, storage.BucketInbox (what sitrep
// has yet to hand to its Handler). The inbox entry goes once the Handler has
// taken the line, so a line the room showed is handled even if sitrep stops,
// or dies, in between: Replay hands what is left over to the Handler when
// sitrep starts again. A crash after the Handler's own commit but before the
// inbox entry goes hands that one line over twice (at least once, as the
// outbox delivers).

func inboxKey(room string, seq uint64) []byte {
	k := make([]byte, 0, len(room)+9)
	k = append(k, room...)
	k = append(k, 0)
	return append(k, storage.U64(seq)...)
}

// putInbox records in, the line stored as the room's message seq, as not yet handled.
func putInbox(tx *bolt.Tx, in adapters.Inbound, seq uint64) error {
	b, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("encode line: %w", err)
	}
	if err := tx.Bucket(storage.BucketInbox).Put(inboxKey(in.RoomID, seq), b); err != nil {
		return fmt.Errorf("store line in the inbox: %w", err)
	}
	return nil
}

// handled removes a line from the inbox once the Handler has taken it. It is
// not tied to any request: it must happen even while sitrep shuts down.
func (w *WebRoom) handled(in adapters.Inbound) {
	seq, err := strconv.ParseUint(in.MessageID, 10, 64)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.db.Update(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(storage.BucketInbox).Delete(inboxKey(in.RoomID, seq))
	}); err != nil && !errors.Is(err, storage.ErrClosed) {
		w.log.Warn("could not clear a handled line; it will be handed over again on restart", "room", in.RoomID, "err", err)
	}
}

// Replay hands the Handler every line the rooms showed but sitrep had not
// handled when it last stopped, oldest first per room, and returns how many.
// Replies cannot reach their senders any more; they are logged.
func (w *WebRoom) Replay(ctx context.Context) (int, error) {
	var lines []adapters.Inbound
	err := w.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(storage.BucketInbox).ForEach(func(_, v []byte) error {
			var in adapters.Inbound
			if err := json.Unmarshal(v, &in); err != nil {
				return fmt.Errorf("decode inbox line: %w", err)
			}
			lines = append(lines, in)
			return nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("read the inbox: %w", err)
	}
	for _, in := range lines {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		reply, err := w.call(ctx, in)
		if err != nil && ctx.Err() != nil {
			return 0, err // stopping: the line stays for the next start
		}
		w.log.Info("handled a line left over from the last run", "room", in.RoomID, "user", in.User, "reply", reply, "err", err)
		w.handled(in)
	}
	return len(lines), nil
}
