package timeline

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	bolt "go.etcd.io/bbolt"

	"github.com/sitrep/sitrep/storage"
)

// incidentCache holds the incidents the timeline wrote last, decoded, so an
// alert for an entity with an open incident does not decode its record again
// (decoding was a fifth of the writer's time under Alertmanager load).
//
// Each entry keeps the exact bytes it was written as, and is used only when
// the stored record is still those bytes. A transaction that rolled back, or a
// record changed any other way, therefore never yields a stale incident: the
// store stays the truth and the cache is only a shortcut to decoding it.
type incidentCache struct {
	mu  sync.Mutex
	max int
	m   map[uint64]cachedIncident
}

type cachedIncident struct {
	raw []byte // the record as written; never modified
	inc Incident
}

// maxCachedIncidents bounds the cache (about 1.5 KiB an incident).
const maxCachedIncidents = 4096

func newIncidentCache(max int) *incidentCache {
	return &incidentCache{max: max, m: make(map[uint64]cachedIncident)}
}

// get returns the incident stored under id in tx.
func (c *incidentCache) get(tx *bolt.Tx, id uint64) (Incident, error) {
	v := tx.Bucket(storage.BucketIncidents).Get(storage.U64(id))
	if v == nil {
		return Incident{}, fmt.Errorf("#%d: %w", id, ErrNotFound)
	}
	c.mu.Lock()
	e, ok := c.m[id]
	c.mu.Unlock()
	if ok && bytes.Equal(e.raw, v) {
		inc := e.inc
		inc.Rooms = slices.Clone(inc.Rooms) // callers append to it
		return inc, nil
	}
	var inc Incident
	if err := json.Unmarshal(v, &inc); err != nil {
		return inc, fmt.Errorf("decode incident %d: %w", id, err)
	}
	return inc, nil
}

// put stores inc in tx and remembers it.
func (c *incidentCache) put(tx *bolt.Tx, inc *Incident) error {
	b, err := appendIncident(make([]byte, 0, 512), inc)
	if err != nil {
		return fmt.Errorf("encode incident: %w", err)
	}
	if err := tx.Bucket(storage.BucketIncidents).Put(storage.U64(inc.ID), b); err != nil {
		return fmt.Errorf("store incident: %w", err)
	}
	cached := *inc
	cached.Rooms = slices.Clone(inc.Rooms)
	c.mu.Lock()
	if _, ok := c.m[inc.ID]; !ok && len(c.m) >= c.max {
		for k := range c.m { // evict one, any one
			delete(c.m, k)
			break
		}
	}
	c.m[inc.ID] = cachedIncident{raw: b, inc: cached}
	c.mu.Unlock()
	return nil
}
