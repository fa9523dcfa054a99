package bot

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/hipchatapi"
	"github.com/sitrep/sitrep/outbox"
	"github.com/sitrep/sitrep/rooms"
)

// Notice is the HipChat-compatible API's Sink: it commits the notice to the
// room's outbox in one bbolt transaction, so it is durable before the API
// answers 204, then wakes the outbox for the room.
func (b *Bot) Notice(ctx context.Context, room rooms.Room, n hipchatapi.Notice) error {
	msg := adapters.Message{Text: n.Text, Color: n.Color, User: n.From}
	if n.Card != nil {
		msg.Title = n.Card.Title
		if n.Card.Description != "" {
			msg.Text += "\n" + n.Card.Description
		}
	}
	if err := b.db.Update(ctx, func(tx *bolt.Tx) error {
		return outbox.TxQueue(tx, b.now()).Enqueue(room.Name, outbox.Item{Op: adapters.OpPost, Msg: msg})
	}); err != nil {
		return fmt.Errorf("store notice for room %s: %w", room.Name, err)
	}
	b.outbox.Notify(room.Name)
	return nil
}
