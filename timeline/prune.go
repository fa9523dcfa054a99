package timeline

import (
	"bytes"
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sitrep/sitrep/storage"
)

// PruneCheck is asked, in the transaction that would delete inc, whether
// inc may go, and deletes what other packages keep of it there: it returns
// keep true to spare inc (an outbox entry still needs it), or an error to
// roll the transaction back.
type PruneCheck func(tx *bolt.Tx, inc Incident) (keep bool, err error)

// PruneResult is what one Prune did.
type PruneResult struct {
	Pruned int    // incidents deleted, with their events
	Next   uint64 // where the next Prune of this pass starts (after this incident ID)
	Done   bool   // the scan reached the newest incident
}

// Prune deletes up to max resolved incidents whose last event is before
// cutoff, with their events and their entity record, scanning incident IDs
// after after: the scan runs in a read transaction, the deletion in one
// write transaction, which re-checks each incident (a new event keeps it).
// An open incident is never pruned. check, if not nil, runs for each
// incident in the deleting transaction (see PruneCheck). The entity index
// forgets an entity whose latest incident goes: its next alert opens a new one.
func (t *Timeline) Prune(ctx context.Context, after uint64, cutoff time.Time, max int, check PruneCheck) (PruneResult, error) {
	res := PruneResult{Next: after}
	var ids []uint64
	const scanCap = 10000 // incidents one read transaction looks at
	err := t.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(storage.BucketIncidents).Cursor()
		seen := 0
		k, v := c.Seek(storage.U64(after + 1))
		for ; k != nil && len(ids) < max && seen < scanCap; k, v = c.Next() {
			seen++
			res.Next = storage.ParseU64(k)
			if !bytes.Contains(v, []byte(`"state":"resolved"`)) {
				continue // the cheap test first: most incidents are kept
			}
			inc, err := decodeIncident(v)
			if err != nil {
				return fmt.Errorf("decode incident %d: %w", res.Next, err)
			}
			if prunable(&inc, cutoff) {
				ids = append(ids, inc.ID)
			}
		}
		res.Done = k == nil
		return nil
	})
	if err != nil || len(ids) == 0 {
		return res, err
	}
	err = t.db.UpdateBulk(ctx, func(tx *bolt.Tx) error {
		res.Pruned = 0
		for _, id := range ids {
			inc, err := getIncident(tx, id)
			if err != nil || !prunable(&inc, cutoff) {
				continue // gone already, or changed since the scan
			}
			if check != nil {
				keep, err := check(tx, inc)
				if err != nil {
					return err
				}
				if keep {
					continue
				}
			}
			if err := t.deleteIncident(tx, &inc); err != nil {
				return err
			}
			res.Pruned++
		}
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("prune: %w", err)
	}
	return res, nil
}

func prunable(inc *Incident, cutoff time.Time) bool {
	return inc.State == StateResolved && inc.UpdatedAt.Before(cutoff) && (inc.ResolvedAt == nil || inc.ResolvedAt.Before(cutoff))
}

// deleteIncident removes inc, its events and its entity record, and the
// index's entry if it is the entity's latest.
func (t *Timeline) deleteIncident(tx *bolt.Tx, inc *Incident) error {
	prefix := storage.U64(inc.ID)
	evs := tx.Bucket(storage.BucketEvents)
	var keys [][]byte
	c := evs.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	for _, k := range keys {
		if err := evs.Delete(k); err != nil {
			return fmt.Errorf("delete event of #%d: %w", inc.ID, err)
		}
	}
	if err := tx.Bucket(storage.BucketIncidents).Delete(prefix); err != nil {
		return fmt.Errorf("delete incident #%d: %w", inc.ID, err)
	}
	if err := tx.Bucket(storage.BucketIncidentEntities).Delete(prefix); err != nil {
		return fmt.Errorf("delete entity of #%d: %w", inc.ID, err)
	}
	if id, _, err := t.ix.lookup(tx, inc.EntityID); err != nil {
		return err
	} else if id == inc.ID {
		t.ix.set(tx, inc.EntityID, inc.ID, 0)
	}
	return nil
}

// IncidentExists reports whether incident id is still kept: false for one
// that was pruned (or never was), for the sweeps of buckets that name
// incidents by value.
func IncidentExists(tx *bolt.Tx, id uint64) bool {
	return tx.Bucket(storage.BucketIncidents).Get(storage.U64(id)) != nil
}
