package outbox

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/storage"
)

// fakePost is one message a fakeChat accepted.
type fakePost struct {
	Room adapters.Room
	Op   adapters.Op
	Ref  string
	Key  string
	Msg  adapters.Message
	ID   string
	At   time.Time
}

// fakeChat is an in-process chat platform. It records accepted posts, can
// fail on demand, and can enforce a token-bucket rate limit (burst Messages,
// Messages per Per), answering RetryAfterError and counting those 429s.
type fakeChat struct {
	mu    sync.Mutex
	posts []fakePost
	calls []time.Time // every Post call, accepted or not

	failNext       int           // transient failures to return next
	retryAfterNext int           // RetryAfterErrors to return next
	retryAfter     time.Duration // their wait
	failAfter      int           // once this many posts are accepted, fail all (0: never)
	reject         func(adapters.Message) bool
	block          bool // Deliver waits for ctx to end
	caps           adapters.Capabilities

	limit  Limit
	tokens float64
	last   time.Time
	over   int // 429s answered by the limit
	nextID int
}

func newFakeChat(limit Limit) *fakeChat {
	return &fakeChat{limit: limit, tokens: float64(limit.Messages), last: time.Now()}
}

func (f *fakeChat) Platform() string { return "fake" }

func (f *fakeChat) Capabilities() adapters.Capabilities {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.caps
}

// Deliver takes posts, replies and updates alike, each through the rate
// limit; an update returns the ID it updated.
func (f *fakeChat) Deliver(ctx context.Context, d adapters.Delivery) (string, error) {
	room, msg := d.Room, d.Msg
	f.mu.Lock()
	now := time.Now()
	f.calls = append(f.calls, now)
	if f.block {
		f.mu.Unlock()
		<-ctx.Done()
		return "", ctx.Err()
	}
	defer f.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if !f.limit.unlimited() {
		rate := float64(f.limit.Messages) / float64(f.limit.Per) // tokens per ns
		f.tokens = math.Min(float64(f.limit.Messages), f.tokens+float64(now.Sub(f.last))*rate)
		f.last = now
		if f.tokens < 1 {
			f.over++
			wait := time.Duration(math.Ceil((1 - f.tokens) / rate))
			return "", &adapters.RetryAfterError{After: wait, Err: errors.New("429 too many requests")}
		}
		f.tokens--
	}
	if f.retryAfterNext > 0 {
		f.retryAfterNext--
		return "", &adapters.RetryAfterError{After: f.retryAfter, Err: errors.New("429 slow down")}
	}
	if f.failNext > 0 {
		f.failNext--
		return "", errors.New("503 service unavailable")
	}
	if f.failAfter > 0 && len(f.posts) >= f.failAfter {
		return "", errors.New("502 bad gateway")
	}
	if f.reject != nil && f.reject(msg) {
		return "", adapters.Permanent(errors.New("payload rejected"))
	}
	if d.Op == adapters.OpUpdate {
		if d.Ref == "" {
			return "", adapters.Permanent(errors.New("update without a message ID"))
		}
		f.posts = append(f.posts, fakePost{Room: room, Op: d.Op, Ref: d.Ref, Key: d.Key, Msg: msg, ID: d.Ref, At: now})
		return d.Ref, nil
	}
	if d.Op == adapters.OpReply && d.Ref == "" {
		return "", adapters.Permanent(errors.New("reply without a parent"))
	}
	f.nextID++
	id := fmt.Sprintf("m%d", f.nextID)
	f.posts = append(f.posts, fakePost{Room: room, Op: d.Op, Ref: d.Ref, Key: d.Key, Msg: msg, ID: id, At: now})
	return id, nil
}

func (f *fakeChat) Posts() []fakePost {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakePost(nil), f.posts...)
}

func (f *fakeChat) Calls() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.calls...)
}

func (f *fakeChat) Over() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.over
}

// visible lists, in order, the event IDs the room's readers can see: a
// message's own, or each of a digest's.
func (f *fakeChat) visible() []uint64 {
	var ids []uint64
	for _, p := range f.Posts() {
		if p.Msg.Kind == adapters.KindDigest {
			for _, m := range p.Msg.Digest {
				ids = append(ids, m.EventID)
			}
			continue
		}
		ids = append(ids, p.Msg.EventID)
	}
	return ids
}

// seenAt maps each visible event ID to when it first became visible.
func (f *fakeChat) seenAt() map[uint64]time.Time {
	seen := map[uint64]time.Time{}
	for _, p := range f.Posts() {
		msgs := []adapters.Message{p.Msg}
		if p.Msg.Kind == adapters.KindDigest {
			msgs = p.Msg.Digest
		}
		for _, m := range msgs {
			if _, ok := seen[m.EventID]; !ok {
				seen[m.EventID] = p.At
			}
		}
	}
	return seen
}

func openDB(tb testing.TB, path string, noSync bool) *storage.DB {
	tb.Helper()
	db, err := storage.Open(path, storage.Options{NoSync: noSync})
	require.NoError(tb, err)
	return db
}

func tempDB(tb testing.TB) *storage.DB {
	tb.Helper()
	db := openDB(tb, tb.TempDir()+"/sitrep.db", true)
	tb.Cleanup(func() { _ = db.Close() })
	return db
}

func msg(event uint64) adapters.Message {
	return adapters.Message{IncidentID: event, EventID: event, Kind: "triggered", Title: fmt.Sprintf("host-%d down", event), Text: "CRITICAL"}
}

func enqueueMsgs(tb testing.TB, db *storage.DB, room string, now time.Time, msgs ...adapters.Message) {
	tb.Helper()
	err := db.Update(context.Background(), func(tx *bolt.Tx) error {
		for _, m := range msgs {
			if _, err := Enqueue(tx, room, m, now); err != nil {
				return err
			}
		}
		return nil
	})
	require.NoError(tb, err)
}

func enqueueItems(tb testing.TB, db *storage.DB, room string, now time.Time, items ...Item) {
	tb.Helper()
	err := db.Update(context.Background(), func(tx *bolt.Tx) error {
		q := TxQueue(tx, now)
		for _, it := range items {
			if err := q.Enqueue(room, it); err != nil {
				return err
			}
		}
		return nil
	})
	require.NoError(tb, err)
}

// targets resolves every room in chats to its fake, with limit.
func targets(limit Limit, chats map[string]*fakeChat) func(string) (Endpoint, bool) {
	return func(room string) (Endpoint, bool) {
		c, ok := chats[room]
		if !ok {
			return Endpoint{}, false
		}
		return Endpoint{Room: adapters.Room{Name: room, ID: "C-" + room}, Chat: c, Limit: limit}, true
	}
}

// running starts o and returns a stop that cancels it and waits for Run.
func running(tb testing.TB, o *Outbox) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- o.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				require.NoError(tb, err)
			case <-time.After(10 * time.Second):
				tb.Fatal("Run did not return after cancel")
			}
		})
	}
	tb.Cleanup(stop)
	return stop
}
