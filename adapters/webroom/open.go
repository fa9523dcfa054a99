package webroom

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/storage"
	"github.com/sitrep/sitrep/timeline"
)

// OpenIncident is an open incident as a room's page lists it at a glance.
// A room keeps its list (storage.BucketWebOpen) from what it is delivered,
// in the same commit: a card adds its incident, a later message or card
// update changes its state and who acknowledged it, and a resolution
// removes it. Nothing else is read, so the list costs nothing per alert
// beyond the room's own write.
type OpenIncident struct {
	ID        uint64         `json:"id"`
	Title     string         `json:"title,omitempty"`
	State     timeline.State `json:"state"`
	By        string         `json:"by,omitempty"`         // who acknowledged it
	Since     time.Time      `json:"since"`                // when the room first heard of it
	MessageID string         `json:"message_id,omitempty"` // its card in the room
}

// maxOpenShown bounds how many open incidents a page is sent when it
// connects (the newest); the frame says how many more there are.
const maxOpenShown = 200

// stateRank orders states so that a late message never moves an incident
// back (an acknowledged one is not triggered again).
func stateRank(s timeline.State) int {
	switch s {
	case timeline.StateTriggered:
		return 1
	case timeline.StateAcknowledged:
		return 2
	case timeline.StateResolved:
		return 3
	}
	return 0
}

// noteIncidents updates room's open incidents from msg (and the messages a
// digest collapses), delivered as op with message ID msgID, inside tx. It
// returns the incidents it changed; a resolved one is returned with its
// state, for the pages to drop it.
func noteIncidents(tx *bolt.Tx, room string, op adapters.Op, msgID string, msg *adapters.Message, now time.Time) ([]OpenIncident, error) {
	msgs := []*adapters.Message{msg}
	if msg.Kind == adapters.KindDigest {
		msgs = msgs[:0]
		for i := range msg.Digest {
			msgs = append(msgs, &msg.Digest[i])
		}
		msgID = "" // a digest is no incident's card
	}
	var changed []OpenIncident
	for _, m := range msgs {
		if m.IncidentID == 0 || stateRank(m.State) == 0 {
			continue
		}
		inc, ok, err := noteIncident(tx, room, op, msgID, m, now)
		if err != nil {
			return nil, fmt.Errorf("open incidents of %s: %w", room, err)
		}
		if ok {
			changed = append(changed, inc)
		}
	}
	return changed, nil
}

func noteIncident(tx *bolt.Tx, room string, op adapters.Op, msgID string, m *adapters.Message, now time.Time) (OpenIncident, bool, error) {
	b, err := tx.Bucket(storage.BucketWebOpen).CreateBucketIfNotExists([]byte(room))
	if err != nil {
		return OpenIncident{}, false, err
	}
	key := storage.U64(m.IncidentID)
	var inc OpenIncident
	known := false
	if v := b.Get(key); v != nil {
		if err := json.Unmarshal(v, &inc); err != nil {
			return OpenIncident{}, false, fmt.Errorf("decode incident %d: %w", m.IncidentID, err)
		}
		known = true
	}
	if known && stateRank(m.State) < stateRank(inc.State) {
		return OpenIncident{}, false, nil // older news
	}
	if !known {
		inc = OpenIncident{ID: m.IncidentID, Since: now.UTC()}
	}
	before := inc
	inc.State = m.State
	if m.Title != "" {
		inc.Title = m.Title
	}
	isCard := op == adapters.OpUpdate || (op == adapters.OpPost && m.Kind == timeline.KindTriggered)
	if isCard && msgID != "" {
		inc.MessageID = msgID
	}
	if m.State == timeline.StateAcknowledged && m.User != "" && (m.Kind == timeline.KindAcknowledged || op == adapters.OpUpdate) {
		inc.By = m.User // the ack's own message, or the card, whose User is who put it in its state
	}
	if m.State == timeline.StateResolved {
		if !known {
			return OpenIncident{}, false, nil
		}
		return inc, true, b.Delete(key)
	}
	if known && inc == before {
		return OpenIncident{}, false, nil
	}
	raw, err := json.Marshal(inc)
	if err != nil {
		return OpenIncident{}, false, err
	}
	return inc, true, b.Put(key, raw)
}

// openIncidents returns room's open incidents, newest first, at most n, and
// how many there are in all.
func openIncidents(tx *bolt.Tx, room string, n int) ([]OpenIncident, int, error) {
	b := tx.Bucket(storage.BucketWebOpen).Bucket([]byte(room))
	if b == nil {
		return []OpenIncident{}, 0, nil
	}
	out := []OpenIncident{}
	total := b.Stats().KeyN
	c := b.Cursor()
	for k, v := c.Last(); k != nil && len(out) < n; k, v = c.Prev() {
		var inc OpenIncident
		if err := json.Unmarshal(v, &inc); err != nil {
			return nil, 0, fmt.Errorf("decode open incident %s of %s: %w", strconv.FormatUint(storage.ParseU64(k), 10), room, err)
		}
		out = append(out, inc)
	}
	return out, total, nil
}
