package storage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Seeded is a list the config seeds and the admin API replaces (routes,
// webhooks), kept as one record under one key of a bucket, with the hash of
// the config's list it was seeded from: the stored list stands across
// restarts until the config's own list changes.
type Seeded[T any] struct {
	db     *DB
	bucket []byte
	key    []byte
	field  string // the list's name in the stored record
	what   string // for errors: "routes"
	hash   string // of the config's list
}

// NewSeeded is the list stored under key in bucket, as the record
// {"config_hash": ..., field: [...]}, seeded from fromConfig.
func NewSeeded[T any](db *DB, bucket, key []byte, field, what string, fromConfig []T) *Seeded[T] {
	b, _ := json.Marshal(fromConfig)
	sum := sha256.Sum256(b)
	return &Seeded[T]{db: db, bucket: bucket, key: key, field: field, what: what, hash: hex.EncodeToString(sum[:])}
}

// Load returns the list to run with: the stored one, unless there is none
// or the config's list changed since it was last seeded; then fromConfig,
// stored.
func (s *Seeded[T]) Load(ctx context.Context, fromConfig []T) ([]T, error) {
	var rec map[string]json.RawMessage
	if err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(s.bucket).Get(s.key)
		if v == nil {
			return nil
		}
		return json.Unmarshal(v, &rec)
	}); err != nil {
		return nil, fmt.Errorf("load %s: %w", s.what, err)
	}
	var hash string
	if raw, ok := rec["config_hash"]; ok {
		if err := json.Unmarshal(raw, &hash); err != nil {
			return nil, fmt.Errorf("load %s: %w", s.what, err)
		}
	}
	if rec != nil && hash == s.hash {
		var items []T
		if raw, ok := rec[s.field]; ok {
			if err := json.Unmarshal(raw, &items); err != nil {
				return nil, fmt.Errorf("load %s: %w", s.what, err)
			}
		}
		return items, nil
	}
	if err := s.Save(ctx, fromConfig); err != nil {
		return nil, err
	}
	return fromConfig, nil
}

// Save stores items as the list in force.
func (s *Seeded[T]) Save(ctx context.Context, items []T) error {
	b, err := json.Marshal(map[string]any{"config_hash": s.hash, s.field: items})
	if err != nil {
		return fmt.Errorf("encode %s: %w", s.what, err)
	}
	if err := s.db.Update(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(s.bucket).Put(s.key, b)
	}); err != nil {
		return fmt.Errorf("store %s: %w", s.what, err)
	}
	return nil
}
