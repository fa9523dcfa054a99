package outbox

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sitrep/sitrep/adapters"
)

type stormResult struct {
	visible, unique, posts, digests, over int
	inOrder                               bool
	lastLag, maxLag                       time.Duration
}

// runStorm enqueues alerts evenly over the span into one room whose fake
// platform enforces limit, and waits until every alert is visible.
func runStorm(tb testing.TB, alerts int, span time.Duration, limit Limit) stormResult {
	tb.Helper()
	db := tempDB(tb)
	chat := newFakeChat(limit)
	o := New(db, Options{Resolve: targets(limit, map[string]*fakeChat{"ops": chat})})
	stop := running(tb, o)

	enqueued := make(map[uint64]time.Time, alerts)
	start := time.Now()
	for i := range alerts {
		if alerts > 1 {
			time.Sleep(time.Until(start.Add(span * time.Duration(i) / time.Duration(alerts-1))))
		}
		now := time.Now()
		enqueueMsgs(tb, db, "ops", now, msg(uint64(i+1)))
		enqueued[uint64(i+1)] = now
		o.Notify("ops")
	}
	deadline := time.Now().Add(span + 30*time.Second)
	for len(chat.visible()) < alerts && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	stop()

	ids := chat.visible()
	res := stormResult{visible: len(ids), over: chat.Over(), inOrder: true}
	seen := map[uint64]bool{}
	for i, id := range ids {
		seen[id] = true
		if i > 0 && id <= ids[i-1] {
			res.inOrder = false
		}
	}
	res.unique = len(seen)
	for _, p := range chat.Posts() {
		res.posts++
		if p.Msg.Kind == adapters.KindDigest {
			res.digests++
		}
	}
	at := chat.seenAt()
	for id, enq := range enqueued {
		lag := at[id].Sub(enq)
		if _, ok := at[id]; !ok {
			lag = time.Since(enq)
		}
		res.maxLag = max(res.maxLag, lag)
		if id == uint64(alerts) {
			res.lastLag = lag
		}
	}
	return res
}

// BenchmarkStorm: 1,000 alerts over 5s into a room limited to 1 msg/s whose
// platform answers 429 beyond that. Real time; run with -benchtime 1x.
func BenchmarkStorm(b *testing.B) {
	var res stormResult
	for range b.N {
		res = runStorm(b, 1000, 5*time.Second, Limit{Messages: 1, Per: time.Second})
	}
	b.ReportMetric(float64(res.visible), "visible")
	b.ReportMetric(float64(res.unique), "unique")
	b.ReportMetric(float64(res.over), "429s")
	b.ReportMetric(float64(res.posts), "posts")
	b.ReportMetric(res.lastLag.Seconds(), "last_lag_s")
	b.ReportMetric(res.maxLag.Seconds(), "max_lag_s")
	require.Equal(b, 1000, res.visible)
	require.Equal(b, 1000, res.unique)
	require.Zero(b, res.over)
}
