package hipchat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sitrep/sitrep/secret"
	"github.com/sitrep/sitrep/storage"
)

// Install is one installation of sitrep's HipChat add-on in a HipChat room,
// as HipChat posted it to the installed callback, and the sitrep room it
// speaks for. OAuthSecret is write-only: it signs the room's webhooks and
// never leaves sitrep (String, LogValue and Redacted hide it).
type Install struct {
	OAuthID         string    `json:"oauth_id"`
	OAuthSecret     string    `json:"oauth_secret"`
	RoomID          string    `json:"room_id"` // the HipChat room's number
	GroupID         string    `json:"group_id"`
	CapabilitiesURL string    `json:"capabilities_url"`
	Room            string    `json:"room"` // the sitrep room its chat is attributed to
	InstalledAt     time.Time `json:"installed_at"`
}

// Redacted is the install as outputs show it: the secret cut to "****" and
// its last four characters.
func (i Install) Redacted() Install {
	i.OAuthSecret = secret.Redact(i.OAuthSecret)
	return i
}

// String never shows the secret.
func (i Install) String() string {
	return fmt.Sprintf("hipchat install %s (HipChat room %s → %s)", i.OAuthID, i.RoomID, i.Room)
}

// LogValue keeps the secret out of structured logs.
func (i Install) LogValue() slog.Value {
	return slog.GroupValue(slog.String("oauth_id", i.OAuthID), slog.String("hipchat_room", i.RoomID),
		slog.String("room", i.Room), slog.String("oauth_secret", secret.Redact(i.OAuthSecret)))
}

// ErrReplay means a signed request's jti was seen before.
var ErrReplay = errors.New("signed request seen before")

// Installs keeps add-on installs in bbolt, and a copy in memory for the
// webhook's lookups, with the jti's of the signed requests they sent. It is
// safe for concurrent use.
type Installs struct {
	db *storage.DB

	writeMu sync.Mutex // one Put or Delete at a time: store, then update the maps
	mu      sync.RWMutex
	byID    map[string]Install // oauthId → install
	byRoom  map[string]string  // HipChat room number → oauthId
}

// OpenInstalls loads the stored installs.
func OpenInstalls(db *storage.DB) (*Installs, error) {
	s := &Installs{db: db, byID: map[string]Install{}, byRoom: map[string]string{}}
	err := db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(storage.BucketHipChatAddons).ForEach(func(k, v []byte) error {
			var in Install
			if err := json.Unmarshal(v, &in); err != nil {
				return fmt.Errorf("decode hipchat install %q: %w", k, err)
			}
			s.byID[in.OAuthID], s.byRoom[in.RoomID] = in, in.OAuthID
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("load hipchat installs: %w", err)
	}
	return s, nil
}

// ErrOtherRoom means an install's oauthId is stored for another HipChat room.
var ErrOtherRoom = errors.New("hipchat install: oauthId installed in another HipChat room")

// Put stores in, replacing an install with the same oauthId in the same
// HipChat room and any older install in that room (a re-install there). Its
// caller must have confirmed with HipChat that in's credentials were issued
// for in.RoomID: Put drops the room's older install. An oauthId stored for
// another HipChat room is refused with ErrOtherRoom.
func (s *Installs) Put(ctx context.Context, in Install) error {
	raw, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("encode hipchat install: %w", err)
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.RLock()
	prev, known := s.byID[in.OAuthID]
	old, replaced := s.byRoom[in.RoomID]
	s.mu.RUnlock()
	if known && prev.RoomID != in.RoomID {
		return fmt.Errorf("%w (%s)", ErrOtherRoom, prev.RoomID)
	}
	if err := s.db.Update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(storage.BucketHipChatAddons)
		if replaced && old != in.OAuthID {
			if err := b.Delete([]byte(old)); err != nil {
				return err
			}
		}
		return b.Put([]byte(in.OAuthID), raw)
	}); err != nil {
		return fmt.Errorf("store hipchat install: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if replaced {
		delete(s.byID, old)
	}
	s.byID[in.OAuthID], s.byRoom[in.RoomID] = in, in.OAuthID
	return nil
}

// Delete removes the install oauthID and reports whether there was one.
func (s *Installs) Delete(ctx context.Context, oauthID string) (bool, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	in, ok := s.Get(oauthID)
	if !ok {
		return false, nil
	}
	if err := s.db.Update(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(storage.BucketHipChatAddons).Delete([]byte(oauthID))
	}); err != nil {
		return false, fmt.Errorf("delete hipchat install: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byID, oauthID)
	delete(s.byRoom, in.RoomID)
	return true, nil
}

// Get returns the install oauthID.
func (s *Installs) Get(oauthID string) (Install, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	in, ok := s.byID[oauthID]
	return in, ok
}

// RoomOf returns the sitrep room the install in HipChat room id speaks for.
func (s *Installs) RoomOf(id string) (string, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	oauthID, ok := s.byRoom[id]
	if !ok {
		return "", false
	}
	return s.byID[oauthID].Room, true
}

// Len is how many installs there are.
func (s *Installs) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.byID)
}

func jtiKey(iss, jti string) []byte { return append(append([]byte(iss), 0), jti...) }

// Seen records the jti of a signed request from install iss, acceptable
// until until (its exp plus the clock skew allowed), and returns ErrReplay if
// it was recorded before and is still acceptable. Records outlive a
// restart: a replay stays refused for as long as its token would pass.
func (s *Installs) Seen(ctx context.Context, iss, jti string, until, now time.Time) error {
	k := jtiKey(iss, jti)
	err := s.db.Update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(storage.BucketHipChatJTI)
		if v := b.Get(k); len(v) == 8 && int64(storage.ParseU64(v)) >= now.Unix() {
			return ErrReplay
		}
		return b.Put(k, storage.U64(uint64(max(until.Unix(), 0))))
	})
	if errors.Is(err, ErrReplay) {
		return err
	}
	if err != nil {
		return fmt.Errorf("record signed request: %w", err)
	}
	return nil
}

// Prune forgets the jti's no longer acceptable at cutoff and returns how many.
func (s *Installs) Prune(ctx context.Context, cutoff time.Time) (int, error) {
	n := 0
	err := s.db.Update(ctx, func(tx *bolt.Tx) error {
		var err error
		n, err = storage.DeleteBefore(tx.Bucket(storage.BucketHipChatJTI), uint64(max(cutoff.Unix(), 0)))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("prune signed request ids: %w", err)
	}
	return n, nil
}
