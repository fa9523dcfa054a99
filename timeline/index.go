package timeline

import (
	"fmt"
	"hash/maphash"
	"sync"

	bolt "go.etcd.io/bbolt"

	"github.com/sitrep/sitrep/storage"
)

// The entity index: which incident is each entity's latest, the lookup
// behind every alert. It lives in memory, so an alert for a new entity writes
// nothing at a random key: the only record of it on disk is
// storage.BucketIncidentEntities (incident ID → entity_id), written once when
// an incident opens and appended in ID order, from which the index is rebuilt
// on open (the highest incident ID of each entity wins).
//
// The index holds what is committed. A write transaction's own changes sit in
// an overlay that its lookups see first, so two alerts for one new entity in
// one group commit (from one request or from two) open one incident; the
// overlay is merged when the transaction commits (bolt's OnCommit) and
// dropped when it rolls back (a later transaction finds the overlay is not
// its own). There is one write transaction at a time, so one overlay.
//
// It is keyed by a 64-bit hash of the entity_id, not the string: 16 bytes an
// entry and nothing for the collector to scan, about 40 MiB for a million
// entities. A lookup's candidate is confirmed by the incident it names
// (its EntityID); the rare entity whose hash another entity holds is kept by
// name in spill.
type entityIndex struct {
	mu     sync.Mutex
	seed   maphash.Seed
	mask   uint64 // all ones; tests clear bits to make entities collide
	built  bool
	byHash map[uint64]uint64 // hash(entity_id) → latest incident ID
	spill  map[string]uint64 // entities whose hash slot another entity holds

	tx      *bolt.Tx // the write transaction overlay belongs to
	overlay map[string]overlayEntry
}

// overlayEntry is one entity's change in the current write transaction.
type overlayEntry struct {
	id   uint64 // its latest incident now; 0: none (its incident was pruned)
	prev uint64 // its latest incident before the transaction, 0 if none
}

func newEntityIndex() *entityIndex {
	return &entityIndex{seed: maphash.MakeSeed(), mask: ^uint64(0)}
}

func (ix *entityIndex) hash(entity string) uint64 { return maphash.String(ix.seed, entity) & ix.mask }

// build fills the index from tx's BucketIncidentEntities, once.
func (ix *entityIndex) build(tx *bolt.Tx) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return ix.buildLocked(tx)
}

func (ix *entityIndex) buildLocked(tx *bolt.Tx) error {
	if ix.built {
		return nil
	}
	b := tx.Bucket(storage.BucketIncidentEntities)
	if b == nil {
		return fmt.Errorf("build entity index: bucket %s missing", storage.BucketIncidentEntities)
	}
	// The incident sequence bounds the entry count; the hint saves rehashing.
	hint := min(tx.Bucket(storage.BucketIncidents).Sequence(), 1<<22)
	byHash := make(map[uint64]uint64, hint)
	spill := map[string]uint64{}
	err := b.ForEach(func(k, v []byte) error {
		id := storage.ParseU64(k)
		h := maphash.Bytes(ix.seed, v) & ix.mask
		if _, ok := spill[string(v)]; ok {
			spill[string(v)] = id
			return nil
		}
		cur, taken := byHash[h]
		if !taken || string(b.Get(storage.U64(cur))) == string(v) { // its own older incident
			byHash[h] = id
			return nil
		}
		spill[string(v)] = id
		return nil
	})
	if err != nil {
		return fmt.Errorf("build entity index: %w", err)
	}
	ix.byHash, ix.spill, ix.built = byHash, spill, true
	return nil
}

// lookup returns entity's latest incident as tx sees it. A candidate from
// the hash map (fromHash) must be confirmed by the caller: its incident's
// EntityID is entity, or entity has none.
func (ix *entityIndex) lookup(tx *bolt.Tx, entity string) (id uint64, fromHash bool, err error) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if err := ix.buildLocked(tx); err != nil {
		return 0, false, err
	}
	if ix.tx == tx {
		if e, ok := ix.overlay[entity]; ok {
			return e.id, false, nil
		}
	}
	if id, ok := ix.spill[entity]; ok {
		return id, false, nil
	}
	return ix.byHash[ix.hash(entity)], true, nil
}

// set records, in tx, that entity's latest incident is now id (0: it has
// none), prev being what lookup found for it (0 if nothing, or a hash
// candidate that was another entity's).
func (ix *entityIndex) set(tx *bolt.Tx, entity string, prev, id uint64) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.tx != tx {
		ix.tx, ix.overlay = tx, map[string]overlayEntry{}
		tx.OnCommit(func() { ix.commit(tx) })
	}
	e, ok := ix.overlay[entity]
	if !ok {
		e.prev = prev
	}
	e.id = id
	ix.overlay[entity] = e
}

// commit merges tx's overlay into the index once tx is durable.
func (ix *entityIndex) commit(tx *bolt.Tx) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.tx != tx {
		return
	}
	for entity, e := range ix.overlay {
		h := ix.hash(entity)
		if _, ok := ix.spill[entity]; ok {
			if e.id == 0 {
				delete(ix.spill, entity)
			} else {
				ix.spill[entity] = e.id
			}
			continue
		}
		cur, taken := ix.byHash[h]
		switch {
		case !taken || (e.prev != 0 && cur == e.prev): // a free slot, or entity's own
			if e.id == 0 {
				delete(ix.byHash, h)
			} else {
				ix.byHash[h] = e.id
			}
		case e.id != 0: // another entity holds the slot
			ix.spill[entity] = e.id
		}
	}
	ix.tx, ix.overlay = nil, nil
}
