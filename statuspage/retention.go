package statuspage

import (
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/sitrep/sitrep/storage"
	"github.com/sitrep/sitrep/timeline"
)

// Keeps returns, for one pruning transaction, the test retention asks
// before it prunes a resolved incident: true while the incident is behind
// a page incident that is still open (monitoring, not closed) or has a
// publication held back.
func Keeps(tx *bolt.Tx) (func(inc timeline.Incident) bool, error) {
	b := bucket(tx)
	return func(inc timeline.Incident) bool {
		l, err := getLinks(b, inc.ID)
		if err != nil || len(l.Waiting) > 0 {
			return true // unreadable or still waiting: keep it
		}
		for _, k := range l.Pages {
			p, ok, err := getPage(b, k)
			if err != nil || (ok && p.Open()) {
				return true
			}
		}
		return false
	}, nil
}

// Prune deletes what the pages keep of a pruned incident: its links, and
// each of its page incidents once no incident is behind it any more.
func Prune(tx *bolt.Tx, inc timeline.Incident) error {
	b := bucket(tx)
	l, err := getLinks(b, inc.ID)
	if err != nil {
		return err
	}
	for _, k := range l.Pages {
		p, ok, err := getPage(b, k)
		if err != nil || !ok {
			return err
		}
		p.Incidents = slices.DeleteFunc(p.Incidents, func(id uint64) bool { return id == inc.ID })
		if len(p.Incidents) == 0 {
			if err := b.Delete(key(prefixIncident, storage.U64(k))); err != nil {
				return err
			}
			continue
		}
		if err := putPage(b, &p); err != nil {
			return err
		}
	}
	return b.Delete(key(prefixLinks, storage.U64(inc.ID)))
}
