package statuspage

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/outbox"
	"github.com/sitrep/sitrep/storage"
	"github.com/sitrep/sitrep/timeline"
)

// poll bounds how long Run sleeps: a publication held back in a transaction
// that committed after Run last looked is found within it.
const poll = time.Second

// poke wakes Run to look for held-back publications.
func (e *Engine) poke() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// Run publishes held-back publications when their wait is over, those that
// fell due while sitrep was down first, until ctx ends.
func (e *Engine) Run(ctx context.Context) error {
	for {
		next, err := e.FireDue(ctx)
		if err != nil && ctx.Err() == nil {
			e.log.Error("held-back status page publications", "err", err)
		}
		sleep := poll
		if !next.IsZero() {
			sleep = min(max(time.Until(next), 0), poll)
		}
		t := time.NewTimer(sleep)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-e.wake:
		case d := <-e.refusals:
			if err := e.tellRefusal(ctx, d); err != nil && ctx.Err() == nil {
				e.log.Error("tell a status page's refusal", "destination", d.Room, "err", err)
			}
		case <-t.C:
		}
		t.Stop()
	}
}

// FireDue publishes every held-back publication due by now and returns when
// the next one is due (zero if none is held).
func (e *Engine) FireDue(ctx context.Context) (time.Time, error) {
	now := e.opts.Now()
	type due struct {
		key      []byte
		incident uint64
	}
	var ready []due
	var next time.Time
	err := e.opts.DB.View(func(tx *bolt.Tx) error {
		return scan(bucket(tx), prefixWait, func(k, _ []byte) (bool, error) {
			rest := k[len(prefixWait):]
			if len(rest) < 16 {
				return true, nil
			}
			at := time.Unix(0, int64(storage.ParseU64(rest[:8])))
			if at.After(now) {
				next = at
				return false, nil
			}
			ready = append(ready, due{key: append([]byte(nil), k...), incident: storage.ParseU64(rest[8:16])})
			return true, nil
		})
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("scan held-back publications: %w", err)
	}
	for _, r := range ready {
		_, err := e.opts.Act(ctx, timeline.Action{IncidentID: r.incident, Kind: timeline.KindStatusPage,
			Fields: map[string]string{fieldWait: hex.EncodeToString(r.key)}, Origin: timeline.Origin{Adapter: Adapter}})
		if errors.Is(err, errNothingDue) || errors.Is(err, timeline.ErrNotFound) {
			err = e.drop(ctx, r.key, r.incident)
		}
		if err != nil {
			return next, fmt.Errorf("publish held-back update of #%d: %w", r.incident, err)
		}
	}
	return next, nil
}

// drop forgets a held-back publication that can no longer be made.
func (e *Engine) drop(ctx context.Context, k []byte, incident uint64) error {
	return e.opts.DB.Update(ctx, func(tx *bolt.Tx) error { return forgetWait(bucket(tx), incident, k) })
}

// Refused tells the incident's rooms that a page refused one of its updates
// (an entry dead-lettered in a page's destination), as an event on its
// timeline; a maintenance's refusal is told in the room it was announced
// from. Other destinations are not the engine's and are ignored. It is the
// outbox's Dead hook and does not block: the event is recorded by Run.
func (e *Engine) Refused(d outbox.DeadEntry) {
	if _, _, ok := ParseRoom(d.Room); !ok {
		return
	}
	select {
	case e.refusals <- d:
	default:
		e.log.Warn("status page refusal not told in the rooms (too many at once)", "destination", d.Room, "reason", d.Error)
	}
}

// tellRefusal records a refusal on its incident's timeline, or for a
// maintenance posts it in the room it came from.
func (e *Engine) tellRefusal(ctx context.Context, d outbox.DeadEntry) error {
	page, svc, _ := ParseRoom(d.Room)
	text := fmt.Sprintf("%s refused an update: %s", e.where(page, "", []string{svc}), d.Error)
	if id := d.Entry.Msg.IncidentID; id != 0 {
		_, err := e.opts.Act(ctx, timeline.Action{IncidentID: id, Kind: timeline.KindStatusPage, Text: text,
			Origin: timeline.Origin{Adapter: Adapter}})
		return err
	}
	room := e.originOf(d)
	if room == "" {
		return nil
	}
	var woken []string
	err := e.opts.DB.Update(ctx, func(tx *bolt.Tx) error {
		q := outbox.TxQueue(tx, e.opts.Now())
		woken = []string{room}
		return q.Enqueue(room, outbox.Item{Msg: refusalMessage(text)})
	})
	if err == nil {
		e.opts.Notify(woken...)
	}
	return err
}

// originOf is the room a refused update's page incident was opened from.
func (e *Engine) originOf(d outbox.DeadEntry) string { return d.Entry.Msg.Fields[fieldOrigin] }

func refusalMessage(text string) adapters.Message {
	return adapters.Message{Kind: timeline.KindStatusPage, Text: text, Color: "red"}
}
