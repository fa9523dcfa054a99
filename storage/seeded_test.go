package storage

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

// A seeded list stands until the config's list changes; the record keeps
// the shape the stores always wrote ({"config_hash", "<field>"}).
func TestSeeded(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sitrep.db")
	db, err := Open(path, Options{})
	require.NoError(t, err)
	defer func() { _ = db.Close() }()
	key := []byte("current")

	cfg := []string{"a", "b"}
	s := NewSeeded(db, BucketRoutes, key, "rules", "routes", cfg)
	got, err := s.Load(ctx, cfg)
	require.NoError(t, err)
	assert.Equal(t, cfg, got, "nothing stored: the config's list")
	require.NoError(t, s.Save(ctx, []string{"x"}))

	again := NewSeeded(db, BucketRoutes, key, "rules", "routes", cfg)
	got, err = again.Load(ctx, cfg)
	require.NoError(t, err)
	assert.Equal(t, []string{"x"}, got, "the saved list survives while the config is unchanged")

	changed := []string{"a", "b", "c"}
	got, err = NewSeeded(db, BucketRoutes, key, "rules", "routes", changed).Load(ctx, changed)
	require.NoError(t, err)
	assert.Equal(t, changed, got, "a changed config seeds the list again")

	var raw []byte
	require.NoError(t, db.View(func(tx *bolt.Tx) error { raw = append(raw, tx.Bucket(BucketRoutes).Get(key)...); return nil }))
	assert.Regexp(t, `^\{"config_hash":"[0-9a-f]{64}","rules":\["a","b","c"\]\}$`, string(raw))
}
