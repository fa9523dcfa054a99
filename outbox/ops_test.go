package outbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/storage"
	"github.com/sitrep/sitrep/timeline"
)

func cardItem(incident uint64) Item {
	return Item{Op: adapters.OpPost, Card: true, Msg: adapters.Message{IncidentID: incident, EventID: incident, Kind: timeline.KindTriggered, State: timeline.StateTriggered, Text: fmt.Sprintf("#%d CUSTOM card", incident)}}
}

func updateItem(incident uint64, state timeline.State) Item {
	return Item{Op: adapters.OpUpdate, Msg: adapters.Message{IncidentID: incident, EventID: incident, Kind: timeline.KindTriggered, State: state, Text: fmt.Sprintf("#%d CUSTOM card", incident)}}
}

func editing(limit Limit) *fakeChat {
	c := newFakeChat(limit)
	c.caps = adapters.Capabilities{Edit: true, Threads: true}
	return c
}

func TestUpdateWaitsBehindItsCardAndUsesItsRef(t *testing.T) {
	db := tempDB(t)
	chat := editing(Limit{})
	chat.failNext = 2 // the card's post fails twice first
	o := New(db, Options{Resolve: targets(Limit{}, map[string]*fakeChat{"ops": chat}), BaseBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond})
	running(t, o)
	enqueueItems(t, db, "ops", time.Now(), cardItem(1),
		Item{Op: adapters.OpReply, Msg: adapters.Message{IncidentID: 1, Kind: timeline.KindAcknowledged, Text: "#1 acknowledged by ann"}},
		updateItem(1, timeline.StateAcknowledged))
	o.Notify("ops")
	require.Eventually(t, func() bool { return len(chat.Posts()) == 3 }, wait, time.Millisecond)
	posts := chat.Posts()
	assert.Equal(t, adapters.OpPost, posts[0].Op)
	assert.Equal(t, adapters.OpReply, posts[1].Op)
	assert.Equal(t, posts[0].ID, posts[1].Ref, "the reply goes under the card")
	assert.Equal(t, adapters.OpUpdate, posts[2].Op)
	assert.Equal(t, posts[0].ID, posts[2].Ref, "the update edits the card, once it is known")
	assert.Equal(t, timeline.StateAcknowledged, posts[2].Msg.State)
	assert.Equal(t, "#1 CUSTOM card", posts[2].Msg.Text)
	assert.NotEqual(t, posts[0].Key, posts[2].Key, "each entry has its own idempotency key")
}

func TestUpdateWithoutCardPostsOneAndRecordsIt(t *testing.T) {
	db := tempDB(t)
	chat := editing(Limit{})
	o := New(db, Options{Resolve: targets(Limit{}, map[string]*fakeChat{"ops": chat})})
	running(t, o)
	// The card was dead-lettered, or shown inside a digest: there is no ref.
	enqueueItems(t, db, "ops", time.Now(), Item{Op: adapters.OpReply, Msg: adapters.Message{IncidentID: 4, Text: "#4 note"}}, updateItem(4, timeline.StateAcknowledged))
	o.Notify("ops")
	require.Eventually(t, func() bool { return len(chat.Posts()) == 2 }, wait, time.Millisecond)
	posts := chat.Posts()
	assert.Equal(t, adapters.OpPost, posts[0].Op, "a reply with no card posts in the room")
	assert.Equal(t, adapters.OpPost, posts[1].Op, "an update with no card posts a fresh card")
	assert.Equal(t, timeline.StateAcknowledged, posts[1].Msg.State)
	require.Eventually(t, func() bool { ref, ok := o.MessageRef(4, "ops"); return ok && ref == posts[1].ID }, wait, time.Millisecond, "the fresh card is the card")

	enqueueItems(t, db, "ops", time.Now(), updateItem(4, timeline.StateResolved))
	o.Notify("ops")
	require.Eventually(t, func() bool { return len(chat.Posts()) == 3 }, wait, time.Millisecond)
	last := chat.Posts()[2]
	assert.Equal(t, adapters.OpUpdate, last.Op)
	assert.Equal(t, posts[1].ID, last.Ref)
}

func TestUpdatesPassTheTokenBucket(t *testing.T) {
	db := tempDB(t)
	limit := Limit{Messages: 2, Per: 400 * time.Millisecond}
	chat := editing(limit) // answers 429 beyond the limit, and counts them
	o := New(db, Options{Resolve: targets(limit, map[string]*fakeChat{"ops": chat}), DigestAfter: time.Hour})
	running(t, o)
	items := []Item{cardItem(1)}
	for range 5 {
		items = append(items, updateItem(1, timeline.StateAcknowledged))
	}
	enqueueItems(t, db, "ops", time.Now(), items...)
	o.Notify("ops")
	require.Eventually(t, func() bool { return len(chat.Posts()) == 6 }, wait, 5*time.Millisecond)
	assert.Zero(t, chat.Over(), "updates are paced like posts: the platform never answered 429")
	calls := chat.Calls()
	assert.GreaterOrEqual(t, calls[len(calls)-1].Sub(calls[0]), 700*time.Millisecond, "6 deliveries at 2 per 400ms take at least 4 intervals of 200ms")
}

func TestUpdateRateLimitedIsRetriedAfterRetryAfter(t *testing.T) {
	db := tempDB(t)
	chat := editing(Limit{})
	o := New(db, Options{Resolve: targets(Limit{}, map[string]*fakeChat{"ops": chat})})
	running(t, o)
	enqueueItems(t, db, "ops", time.Now(), cardItem(1))
	o.Notify("ops")
	require.Eventually(t, func() bool { _, ok := o.MessageRef(1, "ops"); return ok }, wait, time.Millisecond)
	chat.mu.Lock()
	chat.retryAfterNext, chat.retryAfter = 1, 300*time.Millisecond
	chat.mu.Unlock()
	enqueueItems(t, db, "ops", time.Now(), updateItem(1, timeline.StateResolved))
	o.Notify("ops")
	require.Eventually(t, func() bool { return len(chat.Posts()) == 2 }, wait, time.Millisecond)
	calls := chat.Calls()
	require.Len(t, calls, 3, "card, the update answered 429, the update again")
	assert.GreaterOrEqual(t, calls[2].Sub(calls[1]), 300*time.Millisecond, "retried no sooner than Retry-After")
	assert.Equal(t, adapters.OpUpdate, chat.Posts()[1].Op)
	dead, err := o.Dead(10)
	require.NoError(t, err)
	assert.Empty(t, dead)
}

func TestDigestKeepsCardUpdatesForLater(t *testing.T) {
	db := tempDB(t)
	limit := Limit{Messages: 1, Per: 100 * time.Millisecond}
	chat := editing(Limit{})
	o := New(db, Options{Resolve: targets(limit, map[string]*fakeChat{"ops": chat}), DigestAfter: 10 * time.Millisecond})
	running(t, o)
	enqueueItems(t, db, "ops", time.Now(), cardItem(1))
	o.Notify("ops")
	require.Eventually(t, func() bool { _, ok := o.MessageRef(1, "ops"); return ok }, wait, time.Millisecond)

	// A storm, with incident 1 acknowledged in the middle of it and a new
	// incident 50 whose card is swallowed by the digest.
	var storm []Item
	for i := range uint64(20) {
		storm = append(storm, cardItem(100+i))
		if i == 10 {
			storm = append(storm, updateItem(1, timeline.StateAcknowledged), cardItem(50), updateItem(50, timeline.StateAcknowledged))
		}
	}
	enqueueItems(t, db, "ops", time.Now(), storm...)
	o.Notify("ops")
	require.Eventually(t, func() bool {
		n, _ := o.Pending("ops")
		return n == 0
	}, wait, 5*time.Millisecond)
	var updates []fakePost
	digests := 0
	for _, p := range chat.Posts() {
		if p.Op == adapters.OpUpdate {
			updates = append(updates, p)
		}
		if p.Msg.Kind == adapters.KindDigest {
			digests++
			for _, m := range p.Msg.Digest {
				assert.NotEqual(t, timeline.StateAcknowledged, m.State, "card updates are not listed in a digest")
			}
		}
	}
	require.Positive(t, digests)
	require.Len(t, updates, 1, "the card that exists is updated once the storm is digested")
	assert.Equal(t, uint64(1), updates[0].Msg.IncidentID)
	assert.Equal(t, timeline.StateAcknowledged, updates[0].Msg.State)
	_, ok := o.MessageRef(50, "ops")
	require.False(t, ok, "incident 50 was first shown inside a digest: it has no card yet")

	// Its next change gets it a card, with its state.
	before := len(chat.Posts())
	enqueueItems(t, db, "ops", time.Now(), updateItem(50, timeline.StateResolved))
	o.Notify("ops")
	require.Eventually(t, func() bool { return len(chat.Posts()) == before+1 }, wait, 5*time.Millisecond)
	fresh := chat.Posts()[before]
	assert.Equal(t, adapters.OpPost, fresh.Op)
	assert.Equal(t, timeline.StateResolved, fresh.Msg.State)
	require.Eventually(t, func() bool { ref, ok := o.MessageRef(50, "ops"); return ok && ref == fresh.ID }, wait, time.Millisecond)
}

// TestKill9BetweenAckAndUpdate SIGKILLs the delivering process as the
// platform receives an ack's post, before the card's update was sent:
// after a restart the update is delivered, to the card the first run posted.
func TestKill9BetweenAckAndUpdate(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	path := t.TempDir() + "/sitrep.db"
	db, err := storage.Open(path, storage.Options{})
	require.NoError(t, err)
	for r := range killedRooms {
		room := fmt.Sprintf("room-%d", r)
		id := uint64(r + 1)
		enqueueItems(t, db, room, time.Now(), cardItem(id),
			Item{Op: adapters.OpPost, Msg: adapters.Message{IncidentID: id, EventID: 100 + id, Kind: timeline.KindAcknowledged, Text: "acked"}},
			updateItem(id, timeline.StateAcknowledged))
	}
	require.NoError(t, db.Close())

	var (
		mu     sync.Mutex
		got    = map[string][]killBody{}
		killed atomic.Bool
		child  atomic.Pointer[os.Process]
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body killBody
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		got[body.Room] = append(got[body.Room], body)
		mu.Unlock()
		if body.Msg.Kind == timeline.KindAcknowledged && killed.CompareAndSwap(false, true) {
			for child.Load() == nil {
				time.Sleep(time.Millisecond)
			}
			_ = child.Load().Kill() // the ack's post arrived; the sender dies before its update
			return
		}
		if body.Op == adapters.OpUpdate {
			fmt.Fprint(w, body.Ref)
			return
		}
		fmt.Fprintf(w, "msg-%d", body.Msg.EventID)
	}))
	defer srv.Close()

	_, err = runHelper(t, path, srv.URL, &child)
	requireKilled(t, err)
	_, err = runHelper(t, path, srv.URL, &child)
	require.NoError(t, err, "second child delivers the rest and exits")

	mu.Lock()
	defer mu.Unlock()
	for r := range killedRooms {
		room := fmt.Sprintf("room-%d", r)
		var updates []killBody
		for _, b := range got[room] {
			if b.Op == adapters.OpUpdate {
				updates = append(updates, b)
			}
		}
		require.Len(t, updates, 1, "room %s: %+v", room, got[room])
		assert.Equal(t, fmt.Sprintf("msg-%d", r+1), updates[0].Ref, "the update edits the card the first run posted")
		assert.Equal(t, timeline.StateAcknowledged, updates[0].Msg.State)
	}
}
