package rooms

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sitrep/sitrep/storage"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name  string
		room  Room
		field string
	}{
		{"web room ok", Room{Name: "ops", Platform: "webroom"}, ""},
		{"hipchat with token ok", Room{Name: "pay", Platform: "hipchat", ID: "123", Token: "tok"}, ""},
		{"bad name", Room{Name: "no spaces", Platform: "webroom"}, "name"},
		{"missing platform", Room{Name: "x"}, "platform"},
		{"malformed platform", Room{Name: "x", Platform: "IRC chat"}, "platform"},
		{"any platform name: the platform list says which exist", Room{Name: "x", Platform: "irc2", ID: "#ops"}, ""},
		{"hipchat ids ok", Room{Name: "x", Platform: "webroom", HipChatIDs: []string{"42", "1234567"}}, ""},
		{"hipchat id not a number", Room{Name: "x", Platform: "webroom", HipChatIDs: []string{"ops"}}, "hipchat_ids"},
		{"hipchat id leading zero", Room{Name: "x", Platform: "webroom", HipChatIDs: []string{"042"}}, "hipchat_ids"},
		{"hipchat id twice", Room{Name: "x", Platform: "webroom", HipChatIDs: []string{"42", "42"}}, "hipchat_ids"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.room.Validate()
			if tt.field == "" {
				assert.NoError(t, err)
				return
			}
			var fe *FieldError
			require.True(t, errors.As(err, &fe), "got %v", err)
			assert.Equal(t, tt.field, fe.Field)
		})
	}
}

func TestStorePersistsAndIndexes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.db")
	db, err := storage.Open(path, storage.Options{})
	require.NoError(t, err)
	s, err := Open(db)
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, s.Put(ctx, Room{Name: "ops", Platform: "webroom"}))
	require.NoError(t, s.Put(ctx, Room{Name: "pay", Platform: "hipchat", ID: "123", Token: "secret-room-token"}))

	var fe *FieldError
	err = s.Put(ctx, Room{Name: "pay2", Platform: "hipchat", ID: "123"})
	require.True(t, errors.As(err, &fe), "two rooms may not share a platform ID: %v", err)
	assert.Equal(t, "id", fe.Field)

	name, ok := s.ByPlatformID("webroom", "ops")
	assert.True(t, ok)
	assert.Equal(t, "ops", name)
	require.NoError(t, db.Close())

	db, err = storage.Open(path, storage.Options{})
	require.NoError(t, err)
	defer db.Close()
	s, err = Open(db)
	require.NoError(t, err)
	r, ok := s.Get("pay")
	require.True(t, ok)
	assert.Equal(t, "secret-room-token", r.Token)
	assert.Equal(t, "****oken", r.Redacted().Token)
	assert.NotContains(t, r.String(), "secret")

	require.NoError(t, s.Delete(ctx, "pay"))
	assert.ErrorIs(t, s.Delete(ctx, "pay"), ErrNotFound)
	_, ok = s.ByPlatformID("hipchat", "123")
	assert.False(t, ok)
	assert.Len(t, s.List(), 1)
}

// Rooms put at the same time never end up sharing a platform ID.
func TestConcurrentPutsKeepIDsUnique(t *testing.T) {
	db, err := storage.Open(filepath.Join(t.TempDir(), "rooms.db"), storage.Options{NoSync: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	s, err := Open(db)
	require.NoError(t, err)
	for round := range 20 {
		id := fmt.Sprintf("C%d", round)
		var wg sync.WaitGroup
		var ok atomic.Int32
		for i := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if s.Put(context.Background(), Room{Name: fmt.Sprintf("r%d-%d", round, i), Platform: "slack", ID: id}) == nil {
					ok.Add(1)
				}
			}()
		}
		wg.Wait()
		assert.Equal(t, int32(1), ok.Load(), "round %d: exactly one room gets %s", round, id)
	}
	reopened, err := Open(db)
	require.NoError(t, err)
	assert.Equal(t, s.List(), reopened.List(), "memory and disk agree")
}

func TestStoreHipChatIDs(t *testing.T) {
	db, err := storage.Open(filepath.Join(t.TempDir(), "r.db"), storage.Options{})
	require.NoError(t, err)
	s, err := Open(db)
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, s.Put(ctx, Room{Name: "pay", Platform: "hipchat", ID: "123"}))
	require.NoError(t, s.Put(ctx, Room{Name: "ops", Platform: "webroom", HipChatIDs: []string{"42"}}))

	for id, want := range map[string]string{"123": "pay", "42": "ops"} {
		name, ok := s.ByHipChatID(id)
		assert.True(t, ok, id)
		assert.Equal(t, want, name, id)
	}
	_, ok := s.ByHipChatID("7")
	assert.False(t, ok)

	var fe *FieldError
	for _, clash := range []Room{
		{Name: "web2", Platform: "webroom", HipChatIDs: []string{"42"}},
		{Name: "web3", Platform: "webroom", HipChatIDs: []string{"123"}},
		{Name: "hc2", Platform: "hipchat", ID: "42"},
	} {
		err := s.Put(ctx, clash)
		require.True(t, errors.As(err, &fe), "%s: %v", clash.Name, err)
		assert.Equal(t, "hipchat_ids", fe.Field)
	}

	// Changing a room's numbers moves them; the room itself may keep its own.
	require.NoError(t, s.Put(ctx, Room{Name: "ops", Platform: "webroom", HipChatIDs: []string{"43"}}))
	_, ok = s.ByHipChatID("42")
	assert.False(t, ok)
	require.NoError(t, s.Put(ctx, Room{Name: "web2", Platform: "webroom", HipChatIDs: []string{"42"}}))

	// Reopened, the numbers are indexed again.
	s2, err := Open(db)
	require.NoError(t, err)
	name, ok := s2.ByHipChatID("43")
	assert.True(t, ok)
	assert.Equal(t, "ops", name)
	require.NoError(t, s2.Delete(ctx, "ops"))
	_, ok = s2.ByHipChatID("43")
	assert.False(t, ok)
}

func TestRedactedHidesBothTokens(t *testing.T) {
	r := Room{Name: "ops", Platform: "hipchat", ID: "1", Token: "hipchat-room-token-1234", NotifyToken: "sitrep-notify-token-5678"}.Redacted()
	assert.Equal(t, "****1234", r.Token)
	assert.Equal(t, "****5678", r.NotifyToken)
}
