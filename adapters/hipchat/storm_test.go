package hipchat_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/adapters/hipchat"
	"github.com/sitrep/sitrep/adapters/hipchat/hipchattest"
	"github.com/sitrep/sitrep/outbox"
	"github.com/sitrep/sitrep/outbox/stormtest"
	"github.com/sitrep/sitrep/storage"
	"github.com/sitrep/sitrep/timeline"
)

// pipeline is the real outbox delivering to one HipChat room through the
// real adapter, against the fake server.
type pipeline struct {
	db   *storage.DB
	ob   *outbox.Outbox
	hc   *hipchattest.Server
	stop func()
}

const stormRoom = "ops"

// newPipeline runs an outbox whose room "ops" is HipChat room roomA, paced by
// limit (outbox.Limit{} for none).
func newPipeline(tb testing.TB, hc *hipchattest.Server, limit outbox.Limit) *pipeline {
	tb.Helper()
	hc.AddRoom(roomA, tokA)
	db, err := storage.Open(filepath.Join(tb.TempDir(), "sitrep.db"), storage.Options{NoSync: true})
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = db.Close() })
	c := hipchat.New(hipchat.Options{BaseURL: hc.URL()})
	ep := outbox.Endpoint{Room: adapters.Room{Name: stormRoom, ID: roomA, Token: tokA}, Chat: c, Limit: limit}
	ob := outbox.New(db, outbox.Options{Resolve: func(room string) (outbox.Endpoint, bool) { return ep, room == stormRoom }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ob.Run(ctx) }()
	p := &pipeline{db: db, ob: ob, hc: hc}
	p.stop = func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(tb, err)
		case <-time.After(10 * time.Second):
			tb.Fatal("outbox did not stop")
		}
	}
	tb.Cleanup(func() {
		if ctx.Err() == nil {
			p.stop()
		}
	})
	return p
}

func alert(n int) adapters.Message {
	title := fmt.Sprintf("host-%d down", n)
	return adapters.Message{IncidentID: uint64(n), EventID: uint64(n), Kind: timeline.KindTriggered, State: timeline.StateTriggered, Title: title, Text: title}
}

func (p *pipeline) enqueue(tb testing.TB, msgs ...adapters.Message) {
	tb.Helper()
	err := p.db.Update(context.Background(), func(tx *bolt.Tx) error {
		for _, m := range msgs {
			if _, err := outbox.Enqueue(tx, stormRoom, m, time.Now()); err != nil {
				return fmt.Errorf("enqueue: %w", err)
			}
		}
		return nil
	})
	require.NoError(tb, err)
	p.ob.Notify(stormRoom)
}

// A 429 from flood control is retried once the reset it names has come, not
// before (which would be refused again) and not much later.
func TestFloodControlRetriedAtTheReset(t *testing.T) {
	hc := hipchattest.New(t, hipchattest.WithFloodControl(1, 2*time.Second))
	p := newPipeline(t, hc, outbox.Limit{}) // no pacing: the second post meets flood control
	p.enqueue(t, alert(1), alert(2))
	require.Eventually(t, func() bool { return len(hc.Messages(roomA)) == 2 }, 10*time.Second, 5*time.Millisecond)
	got := hc.Messages(roomA)
	assert.Equal(t, 1, hc.Count429(), "one 429, then the retry at the reset went through")
	// The fake named as X-FloodControl-Reset the Unix second, rounded up, at
	// which the room had a notification again.
	next := got[0].At.Add(2 * time.Second)
	reset := time.Unix(next.Unix(), 0)
	if reset.Before(next) {
		reset = reset.Add(time.Second)
	}
	assert.False(t, got[1].At.Before(reset), "retried at %s, before the reset %s", got[1].At, reset)
	assert.Less(t, got[1].At.Sub(reset), 500*time.Millisecond, "retried promptly after the reset")
	assert.Equal(t, "host-2 down", got[1].Message)
}

// BenchmarkHipChatStorm: 1,000 alerts over 5 s into one HipChat room,
// through the outbox paced at HipChat's own limit (the descriptor's), with
// the fake enforcing HipChat's real limits (30 a minute per room, burst 30;
// 500 per 5 minutes per token) in real time. Run with -benchtime 1x.
func BenchmarkHipChatStorm(b *testing.B) {
	var res stormtest.Result
	for range b.N {
		hc := hipchattest.New(b)
		hc.AddRoom(roomA, tokA)
		db, err := storage.Open(filepath.Join(b.TempDir(), "sitrep.db"), storage.Options{NoSync: true})
		require.NoError(b, err)
		b.Cleanup(func() { _ = db.Close() })
		l := hipchat.Descriptor().Platform.Limit
		ep := outbox.Endpoint{Room: adapters.Room{Name: stormRoom, ID: roomA, Token: tokA}, Chat: hipchat.New(hipchat.Options{BaseURL: hc.URL()}),
			Limit: outbox.Limit{Messages: l.Messages, Per: l.Per}}
		res = stormtest.Run(b, db, ep, 1000, 5*time.Second, func() []stormtest.Shown {
			var out []stormtest.Shown
			for _, n := range hc.Messages(roomA) {
				out = append(out, stormtest.Shown{Text: n.Message, At: n.At})
			}
			return out
		}, hc.Count429)
	}
	// One token every 2.1 s (HipChat's 2 s, less the outbox's 5% margin).
	stormtest.Report(b, res, 1000, 2100*time.Millisecond+500*time.Millisecond)
}
