package outbox

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/storage"
	"github.com/sitrep/sitrep/timeline"
)

const wait = 10 * time.Second

func seq(from, to uint64) []uint64 {
	var s []uint64
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

func TestFIFOPerRoomExactlyOnce(t *testing.T) {
	db := tempDB(t)
	ops, dev := newFakeChat(Limit{}), newFakeChat(Limit{})
	o := New(db, Options{Resolve: targets(Limit{}, map[string]*fakeChat{"ops": ops, "dev": dev})})
	running(t, o)

	for batch := range uint64(10) {
		var msgs []adapters.Message
		for i := range uint64(5) {
			msgs = append(msgs, msg(batch*5+i+1))
		}
		enqueueMsgs(t, db, "ops", time.Now(), msgs...)
		enqueueMsgs(t, db, "dev", time.Now(), msgs[0])
		o.Notify("ops", "dev")
	}
	require.Eventually(t, func() bool { return len(ops.Posts()) >= 50 && len(dev.Posts()) >= 10 }, wait, time.Millisecond)
	time.Sleep(50 * time.Millisecond) // nothing more may arrive
	assert.Equal(t, seq(1, 50), ops.visible())
	assert.Equal(t, []uint64{1, 6, 11, 16, 21, 26, 31, 36, 41, 46}, dev.visible())
	for _, p := range ops.Posts() {
		assert.Equal(t, "C-ops", p.Room.ID)
	}
	n, err := o.Pending("ops")
	require.NoError(t, err)
	assert.Zero(t, n)
}

func TestTransientFailureBacksOff(t *testing.T) {
	db := tempDB(t)
	chat := newFakeChat(Limit{})
	chat.failNext = 3
	reg := prometheus.NewRegistry()
	o := New(db, Options{
		Resolve:     targets(Limit{}, map[string]*fakeChat{"ops": chat}),
		BaseBackoff: 5 * time.Millisecond,
		MaxBackoff:  time.Second,
		Metrics:     reg,
	})
	running(t, o)
	enqueueMsgs(t, db, "ops", time.Now(), msg(1), msg(2))
	o.Notify("ops")

	require.Eventually(t, func() bool { return len(chat.Posts()) == 2 }, wait, time.Millisecond)
	calls := chat.Calls()
	require.Len(t, calls, 5)
	// Equal jitter: the k-th retry waits at least half of 5ms·2^k.
	for k, min := range []time.Duration{2500 * time.Microsecond, 5 * time.Millisecond, 10 * time.Millisecond} {
		assert.GreaterOrEqual(t, calls[k+1].Sub(calls[k]), min, "retry %d", k+1)
	}
	assert.Equal(t, []uint64{1, 2}, chat.visible())
	assert.Equal(t, 3.0, testutil.ToFloat64(o.m.failures.WithLabelValues("fake", "transient")))
	require.Eventually(t, func() bool { return testutil.ToFloat64(o.m.delivered.WithLabelValues("fake")) == 2 }, wait, time.Millisecond)
}

func TestFailurePersistsAttempts(t *testing.T) {
	db := tempDB(t)
	chat := newFakeChat(Limit{})
	chat.failNext = 1 << 30
	o := New(db, Options{Resolve: targets(Limit{}, map[string]*fakeChat{"ops": chat}), BaseBackoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond})
	running(t, o)
	enqueueMsgs(t, db, "ops", time.Now(), msg(1))
	o.Notify("ops")
	require.Eventually(t, func() bool {
		e, _, err := o.head("ops")
		return err == nil && e.Attempts >= 4
	}, wait, time.Millisecond)
	e, _, err := o.head("ops")
	require.NoError(t, err)
	assert.Contains(t, e.LastError, "503")
	assert.False(t, e.NextAt.IsZero())
	assert.LessOrEqual(t, o.backoffDelay(50), 4*time.Millisecond, "capped at MaxBackoff")
}

func TestBackoffDelay(t *testing.T) {
	o := New(tempDB(t), Options{BaseBackoff: time.Second, MaxBackoff: 5 * time.Minute})
	for attempts, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second} {
		for range 20 {
			d := o.backoffDelay(attempts)
			assert.GreaterOrEqual(t, d, want/2)
			assert.LessOrEqual(t, d, want)
		}
	}
	for _, attempts := range []int{9, 40, 63, 64, 1000} {
		d := o.backoffDelay(attempts)
		assert.GreaterOrEqual(t, d, 150*time.Second)
		assert.LessOrEqual(t, d, 5*time.Minute)
	}
}

// However long a platform was down, a room's head is tried again within
// seconds of its coming back: by default no retry waits more than 10 s.
func TestDefaultBackoffRetriesWithinSecondsOfAnOutage(t *testing.T) {
	o := New(tempDB(t), Options{})
	var down time.Duration // the retries of a head through a 2-minute outage
	attempts := 0
	for ; down < 2*time.Minute; attempts++ {
		down += o.backoffDelay(attempts)
	}
	for _, n := range []int{attempts, attempts + 1, 1000} {
		assert.LessOrEqual(t, o.backoffDelay(n), 10*time.Second, "%d attempts", n)
	}
	assert.GreaterOrEqual(t, o.backoffDelay(0), 500*time.Millisecond, "the first retry still waits BaseBackoff's half")
}

func TestRetryAfterHonoured(t *testing.T) {
	db := tempDB(t)
	chat := newFakeChat(Limit{})
	chat.retryAfterNext, chat.retryAfter = 1, 300*time.Millisecond
	// A backoff would wait at least 5s: Retry-After must not add one.
	o := New(db, Options{Resolve: targets(Limit{}, map[string]*fakeChat{"ops": chat}), BaseBackoff: 10 * time.Second, MaxBackoff: 10 * time.Second})
	running(t, o)
	enqueueMsgs(t, db, "ops", time.Now(), msg(1))
	o.Notify("ops")

	require.Eventually(t, func() bool {
		e, n, err := o.head("ops")
		return err == nil && n == 1 && !e.NextAt.IsZero()
	}, wait, time.Millisecond)
	e, _, err := o.head("ops")
	require.NoError(t, err)
	assert.Zero(t, e.Attempts, "a Retry-After is not an attempt")
	assert.Contains(t, e.LastError, "429")

	require.Eventually(t, func() bool { return len(chat.Posts()) == 1 }, wait, time.Millisecond)
	calls := chat.Calls()
	require.Len(t, calls, 2)
	gap := calls[1].Sub(calls[0])
	assert.GreaterOrEqual(t, gap, 300*time.Millisecond, "not earlier than asked")
	assert.Less(t, gap, 3*time.Second, "no backoff on top")
}

func TestPermanentFailureGoesDead(t *testing.T) {
	db := tempDB(t)
	chat := newFakeChat(Limit{})
	chat.reject = func(m adapters.Message) bool { return m.EventID == 2 }
	reg := prometheus.NewRegistry()
	o := New(db, Options{Resolve: targets(Limit{}, map[string]*fakeChat{"ops": chat}), Metrics: reg})
	running(t, o)
	enqueueMsgs(t, db, "ops", time.Now(), msg(1), msg(2), msg(3))
	o.Notify("ops")

	require.Eventually(t, func() bool { return len(chat.Posts()) == 2 }, wait, time.Millisecond)
	assert.Equal(t, []uint64{1, 3}, chat.visible())
	dead, err := o.Dead(10)
	require.NoError(t, err)
	require.Len(t, dead, 1)
	assert.Equal(t, "ops", dead[0].Room)
	assert.Equal(t, uint64(2), dead[0].Entry.Msg.EventID)
	assert.Contains(t, dead[0].Error, "payload rejected")
	assert.False(t, dead[0].DiedAt.IsZero())
	assert.Equal(t, 1.0, testutil.ToFloat64(o.m.dead))
	assert.Len(t, chat.Calls(), 3, "a permanent failure is not retried")
}

func TestMaxAgeGoesDead(t *testing.T) {
	db := tempDB(t)
	chat := newFakeChat(Limit{})
	o := New(db, Options{Resolve: targets(Limit{}, map[string]*fakeChat{"ops": chat}), MaxAge: time.Hour})
	old := time.Now().Add(-2 * time.Hour)
	enqueueMsgs(t, db, "ops", old, msg(1))
	enqueueMsgs(t, db, "ops", old.Add(time.Minute), msg(2))
	enqueueMsgs(t, db, "ops", time.Now(), msg(3))
	running(t, o)

	require.Eventually(t, func() bool { return len(chat.Posts()) == 1 }, wait, time.Millisecond)
	assert.Equal(t, []uint64{3}, chat.visible())
	dead, err := o.Dead(0)
	require.NoError(t, err)
	require.Len(t, dead, 2)
	assert.Equal(t, uint64(2), dead[0].Entry.Msg.EventID, "newest first")
	assert.Equal(t, uint64(1), dead[1].Entry.Msg.EventID)
	assert.Contains(t, dead[0].Error, "expired")
	one, err := o.Dead(1)
	require.NoError(t, err)
	assert.Len(t, one, 1)
}

func TestUnknownRoomRetriesThenDies(t *testing.T) {
	db := tempDB(t)
	reg := prometheus.NewRegistry()
	o := New(db, Options{Resolve: targets(Limit{}, nil), BaseBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond, MaxAge: 200 * time.Millisecond, Metrics: reg})
	o.Notify("ghost") // before Run: harmless
	running(t, o)
	o.Notify("ghost", "", "nobody") // no entries: harmless
	enqueueMsgs(t, db, "ghost", time.Now(), msg(1))
	o.Notify("ghost")
	require.Eventually(t, func() bool {
		return testutil.ToFloat64(o.m.failures.WithLabelValues("unknown", "unresolved")) >= 2
	}, wait, time.Millisecond)
	require.Eventually(t, func() bool {
		dead, err := o.Dead(10)
		return err == nil && len(dead) == 1
	}, wait, time.Millisecond)
	dead, err := o.Dead(10)
	require.NoError(t, err)
	assert.Contains(t, dead[0].Error, `room "ghost" is not known`)
	n, err := o.Pending("ghost")
	require.NoError(t, err)
	assert.Zero(t, n)
	require.Eventually(t, func() bool {
		o.mu.Lock()
		defer o.mu.Unlock()
		return len(o.workers) == 0
	}, wait, time.Millisecond, "idle workers exit")
}

func TestRestartResumesWithoutResending(t *testing.T) {
	path := t.TempDir() + "/sitrep.db"
	db := openDB(t, path, false)
	first := newFakeChat(Limit{})
	first.failAfter = 4
	o := New(db, Options{Resolve: targets(Limit{}, map[string]*fakeChat{"ops": first}), BaseBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	stop := running(t, o)
	var cards []Item
	for i := range uint64(10) {
		cards = append(cards, Item{Op: adapters.OpPost, Card: true, Msg: msg(i + 1)})
	}
	enqueueItems(t, db, "ops", time.Now(), cards...)
	o.Notify("ops")
	require.Eventually(t, func() bool { return len(first.Calls()) >= 6 }, wait, time.Millisecond)
	stop()
	require.NoError(t, db.Close())
	assert.Equal(t, seq(1, 4), first.visible())

	db = openDB(t, path, false)
	defer db.Close()
	o2 := New(db, Options{Resolve: targets(Limit{}, map[string]*fakeChat{"ops": newFakeChat(Limit{})})})
	n, err := o2.Pending("ops")
	require.NoError(t, err)
	assert.Equal(t, 6, n)
	second := newFakeChat(Limit{})
	o2 = New(db, Options{Resolve: targets(Limit{}, map[string]*fakeChat{"ops": second})})
	running(t, o2) // no Notify: Run finds the pending room itself
	require.Eventually(t, func() bool { return len(second.Posts()) == 6 }, wait, time.Millisecond)
	time.Sleep(30 * time.Millisecond)
	assert.Equal(t, seq(5, 10), second.visible())
	ref, ok := o2.MessageRef(1, "ops")
	assert.True(t, ok)
	assert.Equal(t, "m1", ref)
}

func TestCardRefRecorded(t *testing.T) {
	db := tempDB(t)
	ops, dev := newFakeChat(Limit{}), newFakeChat(Limit{})
	o := New(db, Options{Resolve: targets(Limit{}, map[string]*fakeChat{"ops": ops, "dev": dev})})
	running(t, o)
	inc := func(kind timeline.Kind, event uint64) adapters.Message {
		return adapters.Message{IncidentID: 7, EventID: event, Kind: kind, Title: "db-1 down"}
	}
	card := func(m adapters.Message) Item { return Item{Op: adapters.OpPost, Card: true, Msg: m} }
	post := func(m adapters.Message) Item { return Item{Op: adapters.OpPost, Msg: m} }
	enqueueItems(t, db, "dev", time.Now(), post(msg(100)))
	enqueueItems(t, db, "ops", time.Now(), post(adapters.Message{EventID: 99, Text: "no incident"}), card(inc("triggered", 1)), post(inc("acknowledged", 2)), post(inc("resolved", 3)))
	enqueueItems(t, db, "dev", time.Now(), card(inc("triggered", 1)))
	o.Notify("ops", "dev")
	require.Eventually(t, func() bool { return len(ops.Posts()) == 4 && len(dev.Posts()) == 2 }, wait, time.Millisecond)
	require.Eventually(t, func() bool { // the ref is saved just after the platform answers
		n1, _ := o.Pending("ops")
		n2, _ := o.Pending("dev")
		return n1+n2 == 0
	}, wait, time.Millisecond)

	ref, ok := o.MessageRef(7, "ops")
	require.True(t, ok)
	assert.Equal(t, ops.Posts()[1].ID, ref)
	ref, ok = o.MessageRef(7, "dev")
	require.True(t, ok)
	assert.Equal(t, dev.Posts()[1].ID, ref)
	_, ok = o.MessageRef(0, "ops")
	assert.False(t, ok, "no ref for messages without an incident")
	_, ok = o.MessageRef(100, "dev")
	assert.False(t, ok, "only a card records its ref")
	_, ok = o.MessageRef(8, "ops")
	assert.False(t, ok)
}

func TestRateLimitNeverExceeded(t *testing.T) {
	db := tempDB(t)
	limit := Limit{Messages: 5, Per: time.Second}
	chat := newFakeChat(limit)
	o := New(db, Options{Resolve: targets(limit, map[string]*fakeChat{"ops": chat}), DigestAfter: time.Hour})
	running(t, o)
	start := time.Now()
	for i := range uint64(12) {
		enqueueMsgs(t, db, "ops", time.Now(), msg(i+1))
		o.Notify("ops")
	}
	require.Eventually(t, func() bool { return len(chat.Posts()) == 12 }, wait, 5*time.Millisecond)
	assert.Zero(t, chat.Over(), "the platform never saw an over-limit post")
	assert.Equal(t, seq(1, 12), chat.visible())
	// Burst of 5, then one per 210ms.
	assert.GreaterOrEqual(t, time.Since(start), 7*200*time.Millisecond)
}

func TestStormCollapsesIntoDigests(t *testing.T) {
	res := runStorm(t, 200, time.Second, Limit{Messages: 2, Per: time.Second})
	assert.Equal(t, 200, res.visible, "every alert visible, alone or in a digest")
	assert.Equal(t, 200, res.unique, "no alert twice")
	assert.True(t, res.inOrder, "FIFO across digests")
	assert.Zero(t, res.over, "no 429")
	assert.Greater(t, res.digests, 0)
	assert.LessOrEqual(t, res.lastLag, 2*time.Second)
	t.Logf("storm: %d posts (%d digests), last alert lag %s, max lag %s", res.posts, res.digests, res.lastLag, res.maxLag)
}

func TestPermanentDigestFallsBackToSingles(t *testing.T) {
	db := tempDB(t)
	limit := Limit{Messages: 10, Per: 100 * time.Millisecond}
	chat := newFakeChat(limit)
	chat.reject = func(m adapters.Message) bool { return m.Kind == adapters.KindDigest }
	o := New(db, Options{Resolve: targets(limit, map[string]*fakeChat{"ops": chat}), DigestAfter: time.Millisecond})
	var msgs []adapters.Message
	for i := range uint64(30) {
		msgs = append(msgs, msg(i+1))
	}
	enqueueMsgs(t, db, "ops", time.Now(), msgs...)
	running(t, o)
	require.Eventually(t, func() bool { return len(chat.Posts()) == 30 }, wait, time.Millisecond)
	assert.Equal(t, seq(1, 30), chat.visible())
	dead, err := o.Dead(10)
	require.NoError(t, err)
	assert.Empty(t, dead)
}

func TestRunAgainAfterCancel(t *testing.T) {
	db := tempDB(t)
	chat := newFakeChat(Limit{})
	o := New(db, Options{Resolve: targets(Limit{}, map[string]*fakeChat{"ops": chat, "dev": chat})})

	// First run: a worker per room, one of them idle-waiting on backoff
	// (dev's head is not due for a while) when the context ends.
	stop := running(t, o)
	enqueueMsgs(t, db, "ops", time.Now(), msg(1))
	o.Notify("ops")
	require.Eventually(t, func() bool { return len(chat.Posts()) == 1 }, wait, time.Millisecond)
	err := db.Update(context.Background(), func(tx *bolt.Tx) error {
		e, err := Enqueue(tx, "dev", msg(2), time.Now())
		if err != nil {
			return err
		}
		e.NextAt = time.Now().Add(time.Second)
		return putEntry(tx.Bucket(storage.BucketOutbox).Bucket([]byte("dev")), e)
	})
	require.NoError(t, err)
	o.Notify("dev")
	time.Sleep(20 * time.Millisecond) // dev's worker is sleeping until NextAt
	chat.mu.Lock()
	chat.block = true // ops' next Post hangs until cancel
	chat.mu.Unlock()
	enqueueMsgs(t, db, "ops", time.Now(), msg(3))
	o.Notify("ops")
	require.Eventually(t, func() bool { return len(chat.Calls()) == 2 }, wait, time.Millisecond)
	stop()
	o.mu.Lock()
	assert.Empty(t, o.workers, "cancelled workers released their rooms")
	o.mu.Unlock()

	// Second run delivers to both rooms, the pending and the new entries.
	chat.mu.Lock()
	chat.block = false
	chat.mu.Unlock()
	running(t, o)
	enqueueMsgs(t, db, "ops", time.Now(), msg(4))
	enqueueMsgs(t, db, "dev", time.Now(), msg(5))
	o.Notify("ops", "dev")
	require.Eventually(t, func() bool { return len(chat.Posts()) == 5 }, wait, time.Millisecond)
	got := chat.visible()
	slices.Sort(got)
	assert.Equal(t, seq(1, 5), got)
}

func TestExpiredBacklogDeadLetteredInBatches(t *testing.T) {
	for _, tc := range []struct {
		name       string
		expired    int
		maxCommits uint64
	}{
		{"one", 1, 2},
		{"500", 500, 3},
		{"2500 over several tx", 2500, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := tempDB(t)
			chat := newFakeChat(Limit{})
			o := New(db, Options{Resolve: targets(Limit{}, map[string]*fakeChat{"ops": chat}), MaxAge: time.Hour})
			old := time.Now().Add(-2 * time.Hour)
			msgs := make([]adapters.Message, tc.expired)
			for i := range msgs {
				msgs[i] = msg(uint64(i + 1))
			}
			enqueueMsgs(t, db, "ops", old, msgs...)
			live := uint64(tc.expired + 1)
			enqueueMsgs(t, db, "ops", time.Now(), msg(live))

			before := db.Stats().Commits
			running(t, o)
			require.Eventually(t, func() bool { return len(chat.Posts()) == 1 }, wait, time.Millisecond)
			// The live entry is deleted in a commit after its post: wait for
			// the room's backlog to be empty in the store, then count.
			require.Eventually(t, func() bool {
				n, err := o.Pending("ops")
				return err == nil && n == 0
			}, wait, time.Millisecond, "the delivered entry's delete commits")
			commits := db.Stats().Commits - before
			assert.LessOrEqual(t, commits, tc.maxCommits, "expired entries are dead-lettered in bounded batches, plus the delivery")
			assert.Equal(t, []uint64{live}, chat.visible())

			dead, err := o.Dead(0)
			require.NoError(t, err)
			require.Len(t, dead, tc.expired)
			for i, d := range dead { // newest first
				assert.Equal(t, uint64(tc.expired-i), d.Entry.Msg.EventID)
				assert.Equal(t, "ops", d.Room)
				assert.Contains(t, d.Error, "expired after")
			}
			assert.Equal(t, float64(tc.expired), testutil.ToFloat64(o.m.dead))
		})
	}
}

func TestRunStopsWithPostInFlight(t *testing.T) {
	db := tempDB(t)
	chat := newFakeChat(Limit{})
	chat.block = true
	o := New(db, Options{Resolve: targets(Limit{}, map[string]*fakeChat{"ops": chat})})
	stop := running(t, o)
	enqueueMsgs(t, db, "ops", time.Now(), msg(1))
	o.Notify("ops")
	require.Eventually(t, func() bool { return len(chat.Calls()) == 1 }, wait, time.Millisecond)
	stop()
	e, n, err := o.head("ops")
	require.NoError(t, err)
	assert.Equal(t, 1, n, "the interrupted entry stays pending")
	assert.Zero(t, e.Attempts)
	assert.Empty(t, e.LastError)
	o.Notify("ops") // after Run: harmless
}

func TestMetricsRegisterTwice(t *testing.T) {
	db := tempDB(t)
	reg := prometheus.NewRegistry()
	chat := newFakeChat(Limit{})
	o1 := New(db, Options{Metrics: reg, Resolve: targets(Limit{}, map[string]*fakeChat{"ops": chat})})
	o2 := New(db, Options{Metrics: reg, Resolve: targets(Limit{}, map[string]*fakeChat{"ops": chat})})
	assert.Same(t, o1.m.delivered, o2.m.delivered)
	enqueueMsgs(t, db, "ops", time.Now(), msg(1), msg(2))
	o1.Notify("ops") // not running: just pre-creates the platform's series
	n, err := testutil.GatherAndCount(reg, "sitrep_outbox_pending", "sitrep_outbox_delivered_total")
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	assert.Equal(t, 2.0, testutil.ToFloat64(prometheus.Collector(mustGauge(t, reg))))
}

func mustGauge(t *testing.T, reg *prometheus.Registry) prometheus.Collector {
	t.Helper()
	g := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sitrep_outbox_pending", Help: "Outbox entries waiting for delivery, all rooms."}, func() float64 { return 0 })
	err := reg.Register(g)
	var are prometheus.AlreadyRegisteredError
	require.ErrorAs(t, err, &are)
	return are.ExistingCollector
}

func TestEnqueueErrors(t *testing.T) {
	db := tempDB(t)
	err := db.Update(context.Background(), func(tx *bolt.Tx) error {
		_, err := Enqueue(tx, "", msg(1), time.Now())
		return err
	})
	require.Error(t, err)
	var e Entry
	require.NoError(t, db.Update(context.Background(), func(tx *bolt.Tx) error {
		var err error
		e, err = Enqueue(tx, "ops", msg(1), time.Now())
		return err
	}))
	assert.Equal(t, uint64(1), e.Seq)
	assert.Equal(t, "ops", e.Room)
	require.NoError(t, db.View(func(tx *bolt.Tx) error {
		assert.NotNil(t, tx.Bucket(storage.BucketOutbox).Bucket([]byte("ops")).Get(storage.U64(1)))
		return nil
	}))
}
