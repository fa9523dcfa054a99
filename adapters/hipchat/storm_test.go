package hipchat_test

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/adapters/hipchat"
	"github.com/sitrep/sitrep/adapters/hipchat/hipchattest"
	"github.com/sitrep/sitrep/outbox"
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

var digestHeader = regexp.MustCompile(`^(\d+) alerts: `)

type hipchatStorm struct {
	visible, posts, digests, n429 int
	lastLag                       time.Duration
}

// runHipChatStorm enqueues alerts evenly over span into one HipChat room,
// through the outbox paced at HipChat's own limit (the descriptor's), against
// the fake enforcing HipChat's real limits in real time, and waits until
// every alert is accounted for in the room: as its own notification or
// counted in a digest's header.
func runHipChatStorm(tb testing.TB, alerts int, span time.Duration) hipchatStorm {
	tb.Helper()
	hc := hipchattest.New(tb) // 30 a minute per room, 500 per 5 minutes per token
	l := hipchat.Descriptor().Platform.Limit
	p := newPipeline(tb, hc, outbox.Limit{Messages: l.Messages, Per: l.Per})

	last := fmt.Sprintf("host-%d down", alerts)
	start := time.Now()
	var lastAt time.Time
	for i := range alerts {
		if alerts > 1 {
			time.Sleep(time.Until(start.Add(span * time.Duration(i) / time.Duration(alerts-1))))
		}
		lastAt = time.Now()
		p.enqueue(tb, alert(i+1))
	}
	count := func() (res hipchatStorm) {
		for _, n := range hc.Messages(roomA) {
			res.posts++
			if m := digestHeader.FindStringSubmatch(n.Message); m != nil {
				k, _ := strconv.Atoi(m[1])
				res.visible += k
				res.digests++
			} else {
				res.visible++
			}
			if res.lastLag == 0 && strings.Contains(n.Message, last) {
				res.lastLag = n.At.Sub(lastAt)
			}
		}
		return res
	}
	deadline := time.Now().Add(30 * time.Second)
	for count().visible < alerts && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // anything more would be a duplicate
	p.stop()
	res := count()
	res.n429 = hc.Count429()
	return res
}

// BenchmarkHipChatStorm: 1,000 alerts over 5 s into one HipChat room, with the
// platform enforcing HipChat's real limit (30 a minute per room, burst 30)
// in real time. Run with -benchtime 1x.
func BenchmarkHipChatStorm(b *testing.B) {
	var res hipchatStorm
	for range b.N {
		res = runHipChatStorm(b, 1000, 5*time.Second)
	}
	b.ReportMetric(float64(res.visible), "visible")
	b.ReportMetric(float64(res.n429), "429s")
	b.ReportMetric(float64(res.posts), "posts")
	b.ReportMetric(float64(res.digests), "digests")
	b.ReportMetric(res.lastLag.Seconds(), "last_lag_s")
	require.Equal(b, 1000, res.visible)
	require.Zero(b, res.n429)
	require.NotZero(b, res.lastLag, "the last alert is shown")
	// One token every 2.1 s (HipChat's 2 s, less the outbox's 5% margin).
	require.Less(b, res.lastLag, 2100*time.Millisecond+500*time.Millisecond)
}
