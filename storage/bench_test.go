package storage

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// Both benchmarks write b.N small records from 256 goroutines to a real,
// fsynced file. Compare: go test ./storage -bench 'Writes' -run '^$'
const writers = 256

func BenchmarkGroupCommitWrites(b *testing.B) {
	db, err := Open(filepath.Join(b.TempDir(), "g.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	var seq atomic.Uint64
	b.SetParallelism(writers / max(1, runtimeProcs()))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			k := U64(seq.Add(1))
			if err := db.Update(context.Background(), func(tx *bolt.Tx) error {
				return tx.Bucket(BucketEvents).Put(k, []byte("event payload of a typical small size"))
			}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
}

func BenchmarkBoltBatchWrites(b *testing.B) {
	bdb, err := bolt.Open(filepath.Join(b.TempDir(), "b.db"), 0o600, &bolt.Options{NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		b.Fatal(err)
	}
	defer bdb.Close()
	if err := bdb.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket(BucketEvents); return err }); err != nil {
		b.Fatal(err)
	}
	var seq atomic.Uint64
	b.SetParallelism(writers / max(1, runtimeProcs()))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			k := U64(seq.Add(1))
			if err := bdb.Batch(func(tx *bolt.Tx) error {
				return tx.Bucket(BucketEvents).Put(k, []byte("event payload of a typical small size"))
			}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
}
