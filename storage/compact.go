package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// CompactResult is the data file's size before and after Compact.
type CompactResult struct {
	Before, After int64
}

// Compact rewrites the data file at path offline (bbolt's Compact: every
// bucket copied in key order into pages filled to the brim, with its
// sequence, and no free pages), then puts the copy in the file's place. It
// holds the file's lock throughout, so it refuses (ErrLocked) while a sitrep
// serves the file, and no sitrep opens it meanwhile. The copy is fsynced
// before it replaces the file; a crash leaves the old file or the new one.
func Compact(path string, lockTimeout time.Duration) (CompactResult, error) {
	var res CompactResult
	if lockTimeout <= 0 {
		lockTimeout = time.Second
	}
	fi, err := os.Stat(path)
	if err != nil {
		return res, fmt.Errorf("compact: %w", err)
	}
	res.Before = fi.Size()
	src, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: lockTimeout, OpenFile: openExisting})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return res, fmt.Errorf("compact %s: %w", path, ErrLocked)
	}
	if err != nil {
		return res, fmt.Errorf("compact %s: %w", path, err)
	}
	defer src.Close()
	tmp := path + ".compact"
	_ = os.Remove(tmp)
	dst, err := bolt.Open(tmp, 0o600, &bolt.Options{NoSync: true, NoFreelistSync: false, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return res, fmt.Errorf("compact: %w", err)
	}
	err = bolt.Compact(dst, src, 64<<20)
	if err == nil {
		err = dst.Sync()
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(tmp)
		return res, fmt.Errorf("compact %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return res, fmt.Errorf("compact %s: %w", path, err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	if fi, err := os.Stat(path); err == nil {
		res.After = fi.Size()
	}
	return res, nil
}

// openExisting opens a data file that must exist (Compact creates none).
func openExisting(name string, flag int, perm os.FileMode) (*os.File, error) {
	return os.OpenFile(name, flag&^os.O_CREATE, perm)
}
