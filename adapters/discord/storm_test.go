package discord

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/adapters/discord/discordtest"
	"github.com/sitrep/sitrep/outbox"
	"github.com/sitrep/sitrep/storage"
	"github.com/sitrep/sitrep/timeline"
)

var digestHeader = regexp.MustCompile(`^(\d+) alerts: `)

type discordStorm struct {
	visible, posts, digests, n429 int
	lastLag                       time.Duration
}

// runDiscordStorm enqueues alerts evenly over span into one channel, through
// the real outbox paced at the descriptor's limit, against the fake Discord
// answering 429 past 5 messages per 5 s, and waits until every alert is shown:
// as its own card or counted in a digest.
func runDiscordStorm(tb testing.TB, alerts int, span time.Duration) discordStorm {
	tb.Helper()
	fake := discordtest.New(testToken)
	tb.Cleanup(fake.Close)
	ch := fake.AddChannel()
	db, err := storage.Open(filepath.Join(tb.TempDir(), "sitrep.db"), storage.Options{NoSync: true})
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = db.Close() })
	c, err := New(Options{Token: testToken, APIURL: fake.URL(), Cards: NewCards(db)})
	require.NoError(tb, err)
	l := Descriptor().Platform.Limit
	ep := outbox.Endpoint{Room: adapters.Room{Name: "ops", ID: ch}, Chat: c, Limit: outbox.Limit{Messages: l.Messages, Per: l.Per}}
	ob := outbox.New(db, outbox.Options{Resolve: func(room string) (outbox.Endpoint, bool) { return ep, room == "ops" }})
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
			_, err := outbox.Enqueue(tx, "ops", m, time.Now())
			return err
		}))
		ob.Notify("ops")
	}
	count := func() (res discordStorm) {
		for _, m := range fake.Messages(ch) {
			res.posts++
			text := m.Text()
			if d := digestHeader.FindStringSubmatch(text); d != nil {
				k, _ := strconv.Atoi(d[1])
				res.visible += k
				res.digests++
			} else {
				res.visible++
			}
			if lastSeen.IsZero() && strings.Contains(text, last) {
				lastSeen = time.Now()
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
	if !lastSeen.IsZero() {
		res.lastLag = lastSeen.Sub(lastAt)
	}
	_, res.n429, _ = fake.Counts()
	return res
}

// BenchmarkDiscordStorm: 1,000 alerts over 5 s into one channel at Discord's
// 5 per 5 s. Run with -benchtime 1x.
func BenchmarkDiscordStorm(b *testing.B) {
	var res discordStorm
	for range b.N {
		res = runDiscordStorm(b, 1000, 5*time.Second)
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
