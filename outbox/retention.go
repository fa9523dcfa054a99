package outbox

import (
	"bytes"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/sitrep/sitrep/storage"
)

// What the retention pruner needs of the outbox: which incidents pending
// entries still name (they are not pruned), and the deletion of a pruned
// incident's card refs.

// PendingIncidents returns the incidents that entries pending in tx's outbox name.
func PendingIncidents(tx *bolt.Tx) (map[uint64]bool, error) {
	ids := map[uint64]bool{}
	root := tx.Bucket(storage.BucketOutbox)
	err := root.ForEachBucket(func(room []byte) error {
		return root.Bucket(room).ForEach(func(k, v []byte) error {
			var e Entry
			if err := decodeEntry(v, &e); err != nil {
				return fmt.Errorf("decode entry %d of %s: %w", storage.ParseU64(k), room, err)
			}
			if e.Msg.IncidentID != 0 {
				ids[e.Msg.IncidentID] = true
			}
			return nil
		})
	})
	return ids, err
}

// DeleteRefs deletes the incident's card refs in every room.
func DeleteRefs(tx *bolt.Tx, incidentID uint64) error {
	b := tx.Bucket(storage.BucketRefs)
	prefix := storage.U64(incidentID)
	var keys [][]byte
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
