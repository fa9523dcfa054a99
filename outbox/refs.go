package outbox

import (
	bolt "go.etcd.io/bbolt"

	"github.com/sitrep/sitrep/storage"
)

// Refs: the platform message ID of each incident's card in each room, in
// storage.BucketRefs under incident ID ‖ room name. A card's post records its
// ref in the transaction that removes the delivered entry; replies and
// updates of the incident in that room then refer to it.

// MessageRef returns the platform ID of the incident's card in room.
func (o *Outbox) MessageRef(incidentID uint64, room string) (string, bool) {
	var ref string
	_ = o.db.View(func(tx *bolt.Tx) error {
		ref = getRef(tx, incidentID, room)
		return nil
	})
	return ref, ref != ""
}

func refKey(incidentID uint64, room string) []byte {
	return append(storage.U64(incidentID), room...)
}

func getRef(tx *bolt.Tx, incidentID uint64, room string) string {
	if incidentID == 0 {
		return ""
	}
	if v := tx.Bucket(storage.BucketRefs).Get(refKey(incidentID, room)); v != nil {
		return string(v)
	}
	return ""
}

// putRef records id as the incident's card in room.
func putRef(tx *bolt.Tx, incidentID uint64, room, id string) error {
	if incidentID == 0 || id == "" {
		return nil
	}
	return tx.Bucket(storage.BucketRefs).Put(refKey(incidentID, room), []byte(id))
}
