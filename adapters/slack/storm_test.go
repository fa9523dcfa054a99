package slack_test

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
	slackadapter "github.com/sitrep/sitrep/adapters/slack"
	"github.com/sitrep/sitrep/outbox"
	"github.com/sitrep/sitrep/timeline"
)

var digestHeader = regexp.MustCompile(`^(\d+) alerts: `)

type slackStorm struct {
	visible, posts, digests, n429 int
	lastLag                       time.Duration
}

// runSlackStorm enqueues alerts evenly over span into one Slack channel,
// through the real outbox paced at the descriptor's limit, against the fake
// enforcing Slack's one message a second per channel (burst 3) in real
// time, and waits until every alert is in the channel: as its own message
// or counted in a digest's header.
func runSlackStorm(tb testing.TB, alerts int, span time.Duration) slackStorm {
	tb.Helper()
	f := newFixture(tb, nil, nil)
	l := slackadapter.Descriptor().Platform.Limit
	ep := outbox.Endpoint{Room: room, Chat: f.client, Limit: outbox.Limit{Messages: l.Messages, Per: l.Per}}
	ob := outbox.New(f.db, outbox.Options{Resolve: func(name string) (outbox.Endpoint, bool) { return ep, name == room.Name }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ob.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	start := time.Now()
	var lastAt time.Time
	for i := range alerts {
		if alerts > 1 {
			time.Sleep(time.Until(start.Add(span * time.Duration(i) / time.Duration(alerts-1))))
		}
		lastAt = time.Now()
		title := fmt.Sprintf("host-%d down", i+1)
		m := adapters.Message{IncidentID: uint64(i + 1), EventID: uint64(i + 1), Kind: timeline.KindTriggered, State: timeline.StateTriggered, Title: title, Text: title}
		require.NoError(tb, f.db.Update(context.Background(), func(tx *bolt.Tx) error {
			_, err := outbox.Enqueue(tx, room.Name, m, time.Now())
			return err
		}))
		ob.Notify(room.Name)
	}
	last := fmt.Sprintf("host-%d down", alerts)
	count := func() (res slackStorm) {
		for _, m := range f.fake.Messages(chanOps) {
			res.posts++
			if d := digestHeader.FindStringSubmatch(m.Text); d != nil {
				k, _ := strconv.Atoi(d[1])
				res.visible += k
				res.digests++
			} else {
				res.visible++
			}
			if res.lastLag == 0 && strings.Contains(m.Text, last) {
				res.lastLag = m.At.Sub(lastAt)
			}
		}
		return res
	}
	deadline := time.Now().Add(30 * time.Second)
	for count().visible < alerts && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	res := count()
	res.n429 = f.fake.Count429()
	return res
}

// BenchmarkSlackStorm: 1,000 alerts over 5 s into one Slack channel that
// allows one message a second (burst 3), in real time. Run with -benchtime 1x.
func BenchmarkSlackStorm(b *testing.B) {
	var res slackStorm
	for range b.N {
		res = runSlackStorm(b, 1000, 5*time.Second)
	}
	b.ReportMetric(float64(res.visible), "visible")
	b.ReportMetric(float64(res.n429), "429s")
	b.ReportMetric(float64(res.posts), "posts")
	b.ReportMetric(float64(res.digests), "digests")
	b.ReportMetric(res.lastLag.Seconds(), "last_lag_s")
	require.Equal(b, 1000, res.visible)
	require.Zero(b, res.n429)
	require.NotZero(b, res.lastLag, "the last alert is shown")
	require.Less(b, res.lastLag, 2*time.Second)
}
