package outbox

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/timeline"
)

func lastCardState(chat *fakeChat, incident uint64) timeline.State {
	var st timeline.State
	for _, p := range chat.Posts() {
		if p.Op == adapters.OpUpdate && p.Msg.IncidentID == incident {
			st = p.Msg.State
		}
	}
	return st
}

// A digest capped at MaxDigest leaves a newer update of a card behind it:
// the older one the digest put back must not overtake it.
func TestDigestedCardUpdatesDoNotOvertakeNewerOnes(t *testing.T) {
	db := tempDB(t)
	limit := Limit{Messages: 1, Per: 100 * time.Millisecond}
	chat := editing(Limit{})
	o := New(db, Options{Resolve: targets(limit, map[string]*fakeChat{"ops": chat}), DigestAfter: 10 * time.Millisecond})
	running(t, o)
	enqueueItems(t, db, "ops", time.Now(), cardItem(1))
	o.Notify("ops")
	require.Eventually(t, func() bool { _, ok := o.MessageRef(1, "ops"); return ok }, wait, time.Millisecond)
	var storm []Item
	for i := uint64(0); len(storm) < MaxDigest; i++ {
		storm = append(storm, cardItem(100+i))
		if i == 10 {
			storm = append(storm, updateItem(1, timeline.StateAcknowledged))
		}
	}
	storm = append(storm, updateItem(1, timeline.StateResolved))
	enqueueItems(t, db, "ops", time.Now(), storm...)
	o.Notify("ops")
	require.Eventually(t, func() bool { n, _ := o.Pending("ops"); return n == 0 }, 10*time.Second, 5*time.Millisecond)
	require.Equal(t, timeline.StateResolved, lastCardState(chat, 1), "incident 1 is resolved; its card must say so")
}

// gateChat holds the first digest until released.
type gateChat struct {
	*fakeChat
	held, release chan struct{}
	once          bool
}

func (g *gateChat) Deliver(ctx context.Context, d adapters.Delivery) (string, error) {
	if d.Msg.Kind == adapters.KindDigest && !g.once {
		g.once = true
		close(g.held)
		<-g.release
	}
	return g.fakeChat.Deliver(ctx, d)
}

// An incident resolved while a digest holding its ack is on its way.
func TestResolveDuringADigestLeavesTheCardResolved(t *testing.T) {
	db := tempDB(t)
	limit := Limit{Messages: 1, Per: 100 * time.Millisecond}
	g := &gateChat{fakeChat: editing(Limit{}), held: make(chan struct{}), release: make(chan struct{})}
	resolve := func(string) (Endpoint, bool) {
		return Endpoint{Room: adapters.Room{Name: "ops", ID: "C-ops"}, Chat: g, Limit: limit}, true
	}
	o := New(db, Options{Resolve: resolve, DigestAfter: 10 * time.Millisecond})
	running(t, o)
	enqueueItems(t, db, "ops", time.Now(), cardItem(1))
	o.Notify("ops")
	require.Eventually(t, func() bool { _, ok := o.MessageRef(1, "ops"); return ok }, wait, time.Millisecond)
	enqueueItems(t, db, "ops", time.Now(), cardItem(100), cardItem(101), updateItem(1, timeline.StateAcknowledged), cardItem(102), cardItem(103))
	o.Notify("ops")
	<-g.held
	enqueueItems(t, db, "ops", time.Now(), updateItem(1, timeline.StateResolved))
	o.Notify("ops")
	close(g.release)
	require.Eventually(t, func() bool { n, _ := o.Pending("ops"); return n == 0 }, wait, 5*time.Millisecond)
	require.Equal(t, timeline.StateResolved, lastCardState(g.fakeChat, 1), "incident 1 is resolved; its card must say so")
}

func TestNoCardUpdatesForAPlatformThatCannotEdit(t *testing.T) {
	db := tempDB(t)
	chat := newFakeChat(Limit{}) // no Edit
	o := New(db, Options{Resolve: targets(Limit{}, map[string]*fakeChat{"ops": chat})})
	running(t, o)
	enqueueItems(t, db, "ops", time.Now(), updateItem(7, timeline.StateResolved))
	o.Notify("ops")
	require.Eventually(t, func() bool { n, _ := o.Pending("ops"); return n == 0 }, wait, time.Millisecond)
	require.Empty(t, chat.Posts(), "a platform that cannot edit gets no card update, not a fresh card")
}

// A platform that fails for a while (not only one that rate-limits) gets its
// backlog as one digest once it answers again, not a replay one by one.
func TestAFailingPlatformGetsItsBacklogAsADigest(t *testing.T) {
	db := tempDB(t)
	limit := Limit{Messages: 10, Per: time.Second} // the rate alone would never digest 4 entries
	chat := newFakeChat(Limit{})
	chat.failNext = 3
	o := New(db, Options{Resolve: targets(limit, map[string]*fakeChat{"ops": chat}), DigestAfter: 300 * time.Millisecond,
		BaseBackoff: 200 * time.Millisecond, MaxBackoff: 400 * time.Millisecond})
	running(t, o)
	enqueueMsgs(t, db, "ops", time.Now(), msg(1), msg(2), msg(3), msg(4))
	o.Notify("ops")
	require.Eventually(t, func() bool { n, _ := o.Pending("ops"); return n == 0 }, wait, 5*time.Millisecond)
	require.Len(t, chat.Posts(), 1, "one digest once the platform is back")
	require.Equal(t, adapters.KindDigest, chat.Posts()[0].Msg.Kind)
	require.Equal(t, seq(1, 4), chat.visible())
}

// A digest's idempotency key is its own, never its head entry's: a platform
// that keys creates on it (Discord's nonce) would otherwise hand back the
// head's lone post, made just before a crash, for the whole digest, and the
// rest of the batch would never be shown.
func TestADigestHasItsOwnKey(t *testing.T) {
	db := tempDB(t)
	limit := Limit{Messages: 10, Per: time.Second}
	chat := newFakeChat(Limit{})
	chat.failNext = 3
	o := New(db, Options{Resolve: targets(limit, map[string]*fakeChat{"ops": chat}), DigestAfter: 300 * time.Millisecond,
		BaseBackoff: 200 * time.Millisecond, MaxBackoff: 400 * time.Millisecond})
	running(t, o)
	enqueueMsgs(t, db, "ops", time.Now(), msg(1), msg(2), msg(3), msg(4))
	o.Notify("ops")
	require.Eventually(t, func() bool { n, _ := o.Pending("ops"); return n == 0 }, wait, 5*time.Millisecond)
	posts := chat.Posts()
	require.Len(t, posts, 1)
	require.Equal(t, adapters.KindDigest, posts[0].Msg.Kind)
	assert.NotEmpty(t, posts[0].Key)
	for s := 1; s <= 4; s++ {
		assert.NotEqual(t, "ops:"+strconv.Itoa(s), posts[0].Key, "the digest of entries 1–4 is keyed apart from entry %d", s)
	}
	assert.Equal(t, digestKey("ops", []Entry{{Seq: 1}, {Seq: 4}}), posts[0].Key, "keyed by its first and last entry: a retry of the same batch has the same key")
}
