package inbox

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/storage"
)

func openDB(t *testing.T, path string) *storage.DB {
	t.Helper()
	db, err := storage.Open(path, storage.Options{})
	require.NoError(t, err)
	return db
}

func pending(t *testing.T, db *storage.DB) int {
	t.Helper()
	n := 0
	require.NoError(t, db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(storage.BucketInbox).Stats().KeyN
		return nil
	}))
	return n
}

func TestReceiveAppliesAPlatformRetryOnce(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "sitrep.db"))
	defer db.Close()
	var calls atomic.Int32
	ib := New(db, func(_ context.Context, in adapters.Inbound) (adapters.Reply, error) {
		calls.Add(1)
		return adapters.Reply{Text: "got " + in.Text}, nil
	}, Options{})
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		in    adapters.Inbound
		reply string
		calls int32
	}{
		{"first delivery", adapters.Inbound{Platform: "slack", RoomID: "C1", Text: "/ack 1", Key: "ev-1"}, "got /ack 1", 1},
		{"the platform's retry", adapters.Inbound{Platform: "slack", RoomID: "C1", Text: "/ack 1", Key: "ev-1"}, "", 1},
		{"the same key on another platform", adapters.Inbound{Platform: "discord", RoomID: "9", Text: "/ack 1", Key: "ev-1"}, "got /ack 1", 2},
		{"no key: the adapter guarantees no repeats", adapters.Inbound{Platform: "webroom", RoomID: "ops", Text: "hi"}, "got hi", 3},
		{"no key again", adapters.Inbound{Platform: "webroom", RoomID: "ops", Text: "hi"}, "got hi", 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ib.Receive(ctx, tc.in)
			require.NoError(t, err)
			assert.Equal(t, tc.reply, r.Text)
			assert.Equal(t, tc.calls, calls.Load())
		})
	}
	assert.Zero(t, pending(t, db), "everything handled is cleared")
}

func TestWhatWasNotHandledIsReplayedAfterARestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sitrep.db")
	db := openDB(t, path)
	// Stored in the platform's own commit, then sitrep stops before handling it.
	ib := New(db, nil, Options{})
	require.NoError(t, db.Update(context.Background(), func(tx *bolt.Tx) error {
		for _, text := range []string{"first", "second"} {
			if _, err := ib.Put(tx, adapters.Inbound{Platform: "webroom", RoomID: "ops", Text: text}); err != nil {
				return err
			}
		}
		return nil
	}))
	require.NoError(t, db.Close())

	db = openDB(t, path)
	defer db.Close()
	var got []string
	ib = New(db, func(_ context.Context, in adapters.Inbound) (adapters.Reply, error) {
		got = append(got, in.Text)
		return adapters.Reply{}, nil
	}, Options{})
	n, err := ib.Replay(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	assert.Equal(t, []string{"first", "second"}, got, "oldest first")
	assert.Zero(t, pending(t, db))
	n, err = ib.Replay(context.Background())
	require.NoError(t, err)
	assert.Zero(t, n, "handed over once")
}

func TestAHandlerCutOffByShutdownLeavesItForReplay(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "sitrep.db"))
	defer db.Close()
	ctx, cancel := context.WithCancel(context.Background())
	ib := New(db, func(ctx context.Context, _ adapters.Inbound) (adapters.Reply, error) {
		cancel() // sitrep stops while the handler runs
		<-ctx.Done()
		return adapters.Reply{}, ctx.Err()
	}, Options{})
	_, err := ib.Receive(ctx, adapters.Inbound{Platform: "hipchat", RoomID: "7", Text: "/ack 3", Key: "m-1"})
	require.Error(t, err)
	assert.Equal(t, 1, pending(t, db), "kept for the next start")
}

func TestAPanickingHandlerIsAnError(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "sitrep.db"))
	defer db.Close()
	ib := New(db, func(context.Context, adapters.Inbound) (adapters.Reply, error) { panic("boom") }, Options{})
	_, err := ib.Receive(context.Background(), adapters.Inbound{Platform: "webroom", RoomID: "ops", Text: "x"})
	require.Error(t, err)
	assert.Zero(t, pending(t, db), "a line that crashes the handler is not handed over forever")
}

func TestPruneForgetsOldKeysOnly(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "sitrep.db"))
	defer db.Close()
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	ib := New(db, func(context.Context, adapters.Inbound) (adapters.Reply, error) { return adapters.Reply{}, nil }, Options{Keep: time.Hour, Now: clock})
	ctx := context.Background()
	_, err := ib.Receive(ctx, adapters.Inbound{Platform: "slack", Key: "old"})
	require.NoError(t, err)
	now = now.Add(50 * time.Minute)
	_, err = ib.Receive(ctx, adapters.Inbound{Platform: "slack", Key: "new"})
	require.NoError(t, err)
	now = now.Add(20 * time.Minute)
	n, err := ib.Prune(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)

	var handled []string
	ib = New(db, func(_ context.Context, in adapters.Inbound) (adapters.Reply, error) {
		handled = append(handled, in.Key)
		return adapters.Reply{}, nil
	}, Options{Keep: time.Hour, Now: clock})
	for _, k := range []string{"old", "new"} {
		_, err := ib.Receive(ctx, adapters.Inbound{Platform: "slack", Key: k})
		require.NoError(t, err)
	}
	assert.Equal(t, []string{"old"}, handled, "a key past Keep is forgotten, a recent one still dedupes")
}

func TestPutRefusesADuplicateInTheCallersCommit(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "sitrep.db"))
	defer db.Close()
	ib := New(db, nil, Options{})
	in := adapters.Inbound{Platform: "slack", Key: "k"}
	require.NoError(t, db.Update(context.Background(), func(tx *bolt.Tx) error { _, err := ib.Put(tx, in); return err }))
	err := db.Update(context.Background(), func(tx *bolt.Tx) error { _, err := ib.Put(tx, in); return err })
	assert.True(t, errors.Is(err, ErrDuplicate), "%v", err)
}
