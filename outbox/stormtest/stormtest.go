// Package stormtest is the storm benchmark every platform runs against its
// fake: alerts enqueued evenly over a span into one room through the real
// outbox, paced at the platform's limit, then counted as the room shows
// them, each as its own message or in a digest's header ("N alerts: …").
package stormtest

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/outbox"
	"github.com/sitrep/sitrep/storage"
	"github.com/sitrep/sitrep/timeline"
)

var digestHeader = regexp.MustCompile(`^(\d+) alerts: `)

// Count is how many alerts a message shows: a digest's header count
// ("N alerts: …"), else one.
func Count(text string) (n int, digest bool) {
	if d := digestHeader.FindStringSubmatch(text); d != nil {
		k, _ := strconv.Atoi(d[1])
		return k, true
	}
	return 1, false
}

// Shown is one message as the platform shows it; a zero At means "when it
// was first seen", which Run then notes itself.
type Shown struct {
	Text string
	At   time.Time
}

// Result is what a storm left in the room.
type Result struct {
	Visible, Posts, Digests, N429 int
	// LastLag is how long after the last alert was enqueued it showed.
	LastLag time.Duration
}

// Run enqueues alerts evenly over span into ep's room (through an outbox on
// db, paced at ep.Limit), waits (up to 30 s) until every alert is shown,
// and returns the count. shown lists what the room shows; n429 counts the
// platform's 429s.
func Run(tb testing.TB, db *storage.DB, ep outbox.Endpoint, alerts int, span time.Duration, shown func() []Shown, n429 func() int) Result {
	tb.Helper()
	room := ep.Room.Name
	ob := outbox.New(db, outbox.Options{Resolve: func(name string) (outbox.Endpoint, bool) { return ep, name == room }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ob.Run(ctx) }()
	defer func() { cancel(); <-done }()

	last := fmt.Sprintf("host-%d down", alerts)
	start := time.Now()
	var lastAt, lastSeen time.Time
	for i := range alerts {
		time.Sleep(time.Until(start.Add(span * time.Duration(i) / time.Duration(max(alerts-1, 1)))))
		n := i + 1
		title := fmt.Sprintf("host-%d down", n)
		m := adapters.Message{IncidentID: uint64(n), EventID: uint64(n), Kind: timeline.KindTriggered, State: timeline.StateTriggered, Title: title, Text: title}
		lastAt = time.Now()
		require.NoError(tb, db.Update(context.Background(), func(tx *bolt.Tx) error {
			_, err := outbox.Enqueue(tx, room, m, time.Now())
			return err
		}))
		ob.Notify(room)
	}
	count := func() (res Result) {
		for _, m := range shown() {
			res.Posts++
			k, digest := Count(m.Text)
			res.Visible += k
			if digest {
				res.Digests++
			}
			if lastSeen.IsZero() && strings.Contains(m.Text, last) {
				lastSeen = m.At
				if lastSeen.IsZero() {
					lastSeen = time.Now()
				}
			}
		}
		return res
	}
	deadline := time.Now().Add(30 * time.Second)
	for count().Visible < alerts && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // anything more would be a duplicate
	res := count()
	if !lastSeen.IsZero() {
		res.LastLag = lastSeen.Sub(lastAt)
	}
	res.N429 = n429()
	return res
}

// Report reports r as the benchmark's metrics and checks the storm targets:
// every alert visible, no 429, the last one shown within maxLag.
func Report(b *testing.B, r Result, alerts int, maxLag time.Duration) {
	b.Helper()
	b.ReportMetric(float64(r.Visible), "visible")
	b.ReportMetric(float64(r.N429), "429s")
	b.ReportMetric(float64(r.Posts), "posts")
	b.ReportMetric(float64(r.Digests), "digests")
	b.ReportMetric(r.LastLag.Seconds(), "last_lag_s")
	require.Equal(b, alerts, r.Visible)
	require.Zero(b, r.N429)
	require.NotZero(b, r.LastLag, "the last alert is shown")
	require.Less(b, r.LastLag, maxLag)
}
