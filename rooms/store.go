package rooms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"

	bolt "go.etcd.io/bbolt"

	"github.com/sitrep/sitrep/storage"
)

// ErrNotFound means no room has that name.
var ErrNotFound = errors.New("no such room")

// Store keeps rooms in bbolt and a copy in memory for lookups on the hot path.
type Store struct {
	db *storage.DB

	writeMu sync.Mutex // one Put or Delete at a time: check, store, then update the maps

	mu      sync.RWMutex
	byName  map[string]Room
	byID    map[string]string // platform+"\x00"+id → name
	byAlias map[string]string // HipChat room number in a room's HipChatIDs → name
}

// hipchat is the platform whose room IDs are HipChat room numbers.
const hipchat = "hipchat"

// Open loads the stored rooms.
func Open(db *storage.DB) (*Store, error) {
	s := &Store{db: db}
	all := map[string]Room{}
	err := db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(storage.BucketRooms).ForEach(func(k, v []byte) error {
			var r Room
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("decode room %q: %w", k, err)
			}
			all[r.Name] = r
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("load rooms: %w", err)
	}
	s.replace(all)
	return s, nil
}

func (s *Store) replace(all map[string]Room) {
	byID := make(map[string]string, len(all))
	byAlias := map[string]string{}
	for name, r := range all {
		byID[r.Platform+"\x00"+r.ID] = name
		for _, id := range r.HipChatIDs {
			byAlias[id] = name
		}
	}
	s.mu.Lock()
	s.byName, s.byID, s.byAlias = all, byID, byAlias
	s.mu.Unlock()
}

// hipchatClash names the other room that already answers to a HipChat room
// number r would answer to, if one does. Called with mu held.
func (s *Store) hipchatClash(r Room) error {
	ids := r.HipChatIDs
	if r.Platform == hipchat {
		ids = append([]string{r.ID}, ids...)
	}
	for _, id := range ids {
		for _, other := range []string{s.byAlias[id], s.byID[hipchat+"\x00"+id]} {
			if other != "" && other != r.Name {
				return &FieldError{"hipchat_ids", fmt.Sprintf("HipChat room %s is already room %q", id, other)}
			}
		}
	}
	return nil
}

// Put validates and stores r, replacing a room of the same name. Two rooms may
// not share a platform room ID.
func (s *Store) Put(ctx context.Context, r Room) error {
	r = r.WithDefaults()
	if err := r.Validate(); err != nil {
		return err
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.RLock()
	other, clash := s.byID[r.Platform+"\x00"+r.ID]
	aliasErr := s.hipchatClash(r)
	s.mu.RUnlock()
	if clash && other != r.Name {
		return &FieldError{"id", fmt.Sprintf("%s room %q is already room %q", r.Platform, r.ID, other)}
	}
	if aliasErr != nil {
		return aliasErr
	}
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode room: %w", err)
	}
	if err := s.db.Update(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(storage.BucketRooms).Put([]byte(r.Name), b)
	}); err != nil {
		return fmt.Errorf("store room %s: %w", r.Name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.byName[r.Name]; ok {
		s.unindex(old)
	}
	next := make(map[string]Room, len(s.byName)+1)
	for k, v := range s.byName {
		next[k] = v
	}
	next[r.Name] = r
	s.byName = next
	s.byID[r.Platform+"\x00"+r.ID] = r.Name
	for _, id := range r.HipChatIDs {
		s.byAlias[id] = r.Name
	}
	return nil
}

// unindex drops old from the ID maps. Called with mu held.
func (s *Store) unindex(old Room) {
	delete(s.byID, old.Platform+"\x00"+old.ID)
	for _, id := range old.HipChatIDs {
		delete(s.byAlias, id)
	}
}

// Delete removes a room. Incidents routed to it stop reaching it.
func (s *Store) Delete(ctx context.Context, name string) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if _, ok := s.Get(name); !ok {
		return fmt.Errorf("%q: %w", name, ErrNotFound)
	}
	if err := s.db.Update(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(storage.BucketRooms).Delete([]byte(name))
	}); err != nil {
		return fmt.Errorf("delete room %s: %w", name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.byName[name]
	next := make(map[string]Room, len(s.byName))
	for k, v := range s.byName {
		if k != name {
			next[k] = v
		}
	}
	s.byName = next
	s.unindex(old)
	return nil
}

// Get returns the room called name.
func (s *Store) Get(name string) (Room, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.byName[name]
	return r, ok
}

// Exists reports whether a room called name exists.
func (s *Store) Exists(name string) bool {
	_, ok := s.Get(name)
	return ok
}

// ByPlatformID maps a platform's room ID to sitrep's room name.
func (s *Store) ByPlatformID(platform, id string) (string, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	name, ok := s.byID[platform+"\x00"+id]
	return name, ok
}

// ByHipChatID maps a HipChat room number to sitrep's room name: a hipchat
// room with that ID, else the room that lists it in its HipChatIDs.
func (s *Store) ByHipChatID(id string) (string, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if name, ok := s.byID[hipchat+"\x00"+id]; ok {
		return name, true
	}
	name, ok := s.byAlias[id]
	return name, ok
}

// List returns all rooms sorted by name, tokens included: callers redact before output.
func (s *Store) List() []Room {
	s.mu.RLock()
	out := make([]Room, 0, len(s.byName))
	for _, r := range s.byName {
		out = append(out, r)
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
