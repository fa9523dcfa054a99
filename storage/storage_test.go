package storage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

func openTemp(t testing.TB) *DB {
	t.Helper()
	db, err := Open(filepath.Join(t.TempDir(), "sitrep.db"), Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func put(key string) func(*bolt.Tx) error {
	return func(tx *bolt.Tx) error { return tx.Bucket(BucketMeta).Put([]byte(key), []byte("v")) }
}

func TestConcurrentWritesAllLand(t *testing.T) {
	db := openTemp(t)
	var wg sync.WaitGroup
	for i := 0; i < 500; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			assert.NoError(t, db.Update(context.Background(), put(fmt.Sprintf("k%03d", i))))
		}(i)
	}
	wg.Wait()
	require.NoError(t, db.View(func(tx *bolt.Tx) error {
		for i := 0; i < 500; i++ {
			assert.NotNil(t, tx.Bucket(BucketMeta).Get([]byte(fmt.Sprintf("k%03d", i))), i)
		}
		return nil
	}))
}

func TestFailedWriteLeavesNothingAndSparesNeighbours(t *testing.T) {
	db := openTemp(t)
	boom := errors.New("boom")
	var wg sync.WaitGroup
	errs := make([]error, 50)
	for i := range errs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs[i] = db.Update(context.Background(), func(tx *bolt.Tx) error {
				if err := put(fmt.Sprintf("k%02d", i))(tx); err != nil {
					return err
				}
				switch i % 10 {
				case 3:
					return boom
				case 7:
					panic("bad write")
				}
				return nil
			})
		}(i)
	}
	wg.Wait()
	require.NoError(t, db.View(func(tx *bolt.Tx) error {
		for i, err := range errs {
			got := tx.Bucket(BucketMeta).Get([]byte(fmt.Sprintf("k%02d", i)))
			switch i % 10 {
			case 3:
				assert.ErrorIs(t, err, boom)
				assert.Nil(t, got, "failed write %d must leave nothing", i)
			case 7:
				assert.ErrorContains(t, err, "panicked")
				assert.Nil(t, got, "panicked write %d must leave nothing", i)
			default:
				assert.NoError(t, err)
				assert.NotNil(t, got, "write %d lost", i)
			}
		}
		return nil
	}))
}

func TestSecondProcessGetsClearErrorQuickly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sitrep.db")
	db, err := Open(path, Options{})
	require.NoError(t, err)
	defer db.Close()
	// bbolt's flock is per open file description, so a second Open in this
	// process contends exactly as a second process would.
	start := time.Now()
	_, err = Open(path, Options{LockTimeout: 200 * time.Millisecond})
	require.ErrorIs(t, err, ErrLocked)
	assert.Contains(t, err.Error(), path)
	assert.Less(t, time.Since(start), time.Second)
}

func TestReopenKeepsDataAndSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sitrep.db")
	db, err := Open(path, Options{})
	require.NoError(t, err)
	require.NoError(t, db.Update(context.Background(), put("kept")))
	require.NoError(t, db.Close())
	assert.ErrorIs(t, db.Update(context.Background(), put("late")), ErrClosed)

	db, err = Open(path, Options{})
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, db.View(func(tx *bolt.Tx) error {
		assert.Equal(t, []byte("v"), tx.Bucket(BucketMeta).Get([]byte("kept")))
		assert.Equal(t, uint64(SchemaVersion), ParseU64(tx.Bucket(BucketMeta).Get(keySchemaVersion)))
		return nil
	}))
}

func TestRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sitrep.db")
	b, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, b.Update(func(tx *bolt.Tx) error {
		m, err := tx.CreateBucketIfNotExists(BucketMeta)
		if err != nil {
			return err
		}
		return m.Put(keySchemaVersion, U64(SchemaVersion+1))
	}))
	require.NoError(t, b.Close())
	_, err = Open(path, Options{})
	assert.ErrorContains(t, err, "schema version")
}

func TestBackupIsAUsableCopy(t *testing.T) {
	db := openTemp(t)
	require.NoError(t, db.Update(context.Background(), put("a")))
	path := filepath.Join(t.TempDir(), "copy.db")
	f, err := createFile(path)
	require.NoError(t, err)
	n, err := db.Backup(f, nil)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	assert.Positive(t, n)
	cp, err := Open(path, Options{})
	require.NoError(t, err)
	defer cp.Close()
	require.NoError(t, cp.View(func(tx *bolt.Tx) error {
		assert.NotNil(t, tx.Bucket(BucketMeta).Get([]byte("a")))
		return nil
	}))
}

func TestU64KeysSortNumerically(t *testing.T) {
	assert.Less(t, string(U64(9)), string(U64(10)))
	assert.Equal(t, uint64(1234567), ParseU64(U64(1234567)))
	assert.Zero(t, ParseU64([]byte{1, 2}))
}

// Failing writes cost their batch a re-run each, not a re-run of everything
// per failure: the work stays linear in the batch.
func TestManyFailuresInABatchStayLinear(t *testing.T) {
	db := openTemp(t)
	const n = 2000
	var runs atomic.Int64
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_ = db.Update(context.Background(), func(tx *bolt.Tx) error {
				runs.Add(1)
				if err := put(fmt.Sprintf("w%04d", i))(tx); err != nil {
					return err
				}
				if i%4 == 0 {
					return errors.New("refused")
				}
				return nil
			})
		}()
	}
	close(start)
	wg.Wait()
	assert.LessOrEqual(t, runs.Load(), int64(3*n), "runs for %d writes, a quarter failing", n)
	require.NoError(t, db.View(func(tx *bolt.Tx) error {
		for i := range n {
			got := tx.Bucket(BucketMeta).Get([]byte(fmt.Sprintf("w%04d", i)))
			assert.Equal(t, i%4 != 0, got != nil, "write %d", i)
		}
		return nil
	}))
}

func TestDeleteBefore(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "s.db"), Options{NoSync: true})
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, db.Update(context.Background(), func(tx *bolt.Tx) error {
		b := tx.Bucket(BucketInboxSeen)
		for k, v := range map[string][]byte{"old": U64(10), "edge": U64(20), "new": U64(30), "bad": []byte("x")} {
			if err := b.Put([]byte(k), v); err != nil {
				return err
			}
		}
		n, err := DeleteBefore(b, 20)
		require.Equal(t, 2, n, "the old one and the one that is no time")
		for k, want := range map[string]bool{"old": false, "bad": false, "edge": true, "new": true} {
			assert.Equal(t, want, b.Get([]byte(k)) != nil, k)
		}
		return err
	}))
}

// A schema 1 file's entity index (entity_id → incident) becomes schema 2's
// incident → entity_id, and the old bucket goes.
func TestMigrateFromSchema1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v1.db")
	b, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	v1 := map[string]uint64{"9f86d081884c7d65": 3, "db-17.eu-west-1.prod.example.net": 1, "2c26b46b68ffc68f": 2}
	require.NoError(t, b.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{BucketMeta, BucketIncidents, BucketEvents, BucketEntities} {
			if _, err := tx.CreateBucket(name); err != nil {
				return err
			}
		}
		for e, id := range v1 {
			if err := tx.Bucket(BucketEntities).Put([]byte(e), U64(id)); err != nil {
				return err
			}
		}
		return tx.Bucket(BucketMeta).Put(keySchemaVersion, U64(1))
	}))
	require.NoError(t, b.Close())

	db, err := Open(path, Options{})
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, db.View(func(tx *bolt.Tx) error {
		assert.Nil(t, tx.Bucket(BucketEntities))
		assert.Equal(t, uint64(SchemaVersion), ParseU64(tx.Bucket(BucketMeta).Get(keySchemaVersion)))
		got := map[string]uint64{}
		var order []uint64
		require.NoError(t, tx.Bucket(BucketIncidentEntities).ForEach(func(k, v []byte) error {
			got[string(v)] = ParseU64(k)
			order = append(order, ParseU64(k))
			return nil
		}))
		assert.Equal(t, v1, got)
		assert.Equal(t, []uint64{1, 2, 3}, order)
		return nil
	}))
}

func TestCompact(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sitrep.db")
	db, err := Open(path, Options{NoSync: true})
	require.NoError(t, err)
	val := make([]byte, 400)
	for i := range 2000 {
		require.NoError(t, db.Update(context.Background(), func(tx *bolt.Tx) error {
			return tx.Bucket(BucketEvents).Put(U64(uint64(i)), val)
		}))
	}
	require.NoError(t, db.Update(context.Background(), func(tx *bolt.Tx) error {
		b := tx.Bucket(BucketEvents)
		if _, err := b.NextSequence(); err != nil {
			return err
		}
		for i := range 1900 {
			if err := b.Delete(U64(uint64(i))); err != nil {
				return err
			}
		}
		return nil
	}))

	_, err = Compact(path, 100*time.Millisecond)
	assert.ErrorIs(t, err, ErrLocked, "not while the file is open")
	require.NoError(t, db.Close())

	res, err := Compact(path, 0)
	require.NoError(t, err)
	assert.Less(t, res.After, res.Before/2, "%+v", res)
	db, err = Open(path, Options{})
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(BucketEvents)
		assert.Equal(t, uint64(1), b.Sequence(), "sequences survive")
		assert.Equal(t, 100, b.Stats().KeyN)
		assert.Equal(t, uint64(SchemaVersion), ParseU64(tx.Bucket(BucketMeta).Get(keySchemaVersion)))
		return nil
	}))

	_, err = Compact(filepath.Join(t.TempDir(), "missing.db"), 0)
	assert.ErrorIs(t, err, os.ErrNotExist)
}

// A write that arrives while a long line of bulk writes runs goes in the
// next transaction, not at the end of the line (a transaction stops taking
// writes after MaxTxTime); the bulk writes all land.
func TestOrdinaryWritesGoBeforeQueuedBulk(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "s.db"), Options{NoSync: true, MaxTxTime: 5 * time.Millisecond})
	require.NoError(t, err)
	defer db.Close()
	var (
		mu    sync.Mutex
		order []string
	)
	ran := func(name string) func(*bolt.Tx) error {
		return func(tx *bolt.Tx) error {
			mu.Lock()
			order = append(order, name)
			mu.Unlock()
			time.Sleep(time.Millisecond) // a large write
			return put(name)(tx)
		}
	}
	const bulk = 60
	var wg sync.WaitGroup
	for i := range bulk {
		wg.Add(1)
		go func() {
			defer wg.Done()
			assert.NoError(t, db.UpdateBulk(context.Background(), ran(fmt.Sprintf("bulk-%02d", i))))
		}()
	}
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(order) > 0 }, 5*time.Second, time.Millisecond)
	require.NoError(t, db.Update(context.Background(), ran("ordinary")))
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, order, bulk+1)
	pos := slices.Index(order, "ordinary")
	assert.Less(t, pos, bulk/2, "ran after %d of %d bulk writes queued before it", pos, bulk)
	require.NoError(t, db.View(func(tx *bolt.Tx) error {
		for _, k := range order {
			assert.NotNil(t, tx.Bucket(BucketMeta).Get([]byte(k)), k)
		}
		return nil
	}))
	assert.Greater(t, db.Stats().Commits, uint64(5), "a transaction stops taking writes after MaxTxTime")
}
