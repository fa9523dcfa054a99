// Package storage is sitrep's durable store: one bbolt file with versioned
// buckets, and a single writer goroutine that groups concurrent writes into one
// transaction (group commit). A caller of Update hears back only after the
// transaction that holds its write has been fsynced.
//
// # Turns
//
// Writes come in two lanes. Update is for the writes someone waits on (a
// single alert, a delivery's removal from the outbox, a web room's log line,
// a chat command); UpdateBulk for large ones that can wait their turn (a
// batch of alerts, retention). A transaction takes every ordinary write that
// is queued, and bulk writes after them, and stops taking more once its
// writes have run for MaxTxTime: what it did not get to goes first into the
// next. So a delivery waits at most about one such transaction and its fsync
// however much bulk ingest is queued, and every transaction still carries at
// least one bulk write, so bulk ingest is never starved either.
package storage

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// SchemaVersion is the bucket layout this build writes. Open migrates older
// files forward and refuses newer ones.
//
//   - 1: the first layout.
//   - 2: the entity index BucketEntities (entity_id → latest incident, a put
//     at a random key for every new incident) gives way to
//     BucketIncidentEntities (incident ID → entity_id, appended in ID order),
//     from which the timeline rebuilds the index in memory on open. An
//     incident record may leave its fields (and the title they make) to the
//     event it names in fields_event; schema 1's records, which hold them,
//     read as they are.
const SchemaVersion = 2

// Bucket names. Every package that persists state names its bucket here, so the
// schema is visible in one place and created (or migrated) in one transaction.
var (
	BucketMeta       = []byte("meta")
	BucketIncidents  = []byte("incidents") // incident ID (u64) → incident JSON
	BucketEvents     = []byte("events")    // incident ID (u64) ‖ event ID (u64) → event JSON
	BucketEntities   = []byte("entities")  // schema 1 only (see BucketIncidentEntities)
	BucketRooms      = []byte("rooms")     // room name → room JSON
	BucketRoutes     = []byte("routes")    // "current" → route list JSON
	BucketOutbox     = []byte("outbox")    // room name → nested bucket of entry ID (u64) → entry JSON
	BucketDead       = []byte("dead")      // entry ID (u64) → dead-lettered entry JSON
	BucketRefs       = []byte("refs")      // incident ID (u64) ‖ room name → platform message ID
	BucketRoomLog    = []byte("roomlog")   // room name → nested bucket of seq (u64) → web room message JSON
	BucketOnCall     = []byte("oncall")    // nested buckets: schedules (team → schedule JSON), state (team → next handoff and who was announced), external (team → who another tool reports on call)
	BucketEscalate   = []byte("escalate")  // nested buckets: due (due unix ns ‖ incident ID ‖ step, u64 ‖ u64 ‖ u32 → timer JSON), incident (incident ID ‖ step → its due key)
	BucketInbox      = []byte("inbox")     // seq (u64) → an inbound message or action not yet handled (JSON)
	BucketInboxSeen  = []byte("inboxseen") // platform ‖ 0 ‖ dedupe key → when it was received (unix ns, u64)
	BucketTeams      = []byte("teams")     // team name → nested bucket of entry ID (u64) → team timeline entry JSON
	keySchemaVersion = []byte("schema_version")
)

// BucketIncidentEntities holds incident ID (u64) → its entity_id, written once
// when the incident opens; keys only ever grow, so puts append. The timeline
// keeps the entity → latest incident index in memory and rebuilds it from this
// bucket on open. Schema 1 kept that index on disk instead, in BucketEntities
// (entity_id → latest incident ID), a put at a random key for every new
// incident; the migration to schema 2 moves it here and drops it.
var BucketIncidentEntities = []byte("incentities")

// Buckets of HipChat's add-on installs.
var (
	BucketHipChatAddons = []byte("hipchataddons") // install's oauthId → install JSON, its secret included
	BucketHipChatJTI    = []byte("hipchatjti")    // oauthId ‖ 0 ‖ signed request's jti → its exp (unix s, u64)
)

// Buckets of the Slack adapter.
var (
	BucketSlackMessages = []byte("slackmsgs") // channel ID ‖ 0 ‖ message ts → incident ID (u64) of a message sitrep posted
	BucketSlackSigs     = []byte("slacksigs") // a signed request's signature → its timestamp (unix s, u64), against replays
)

// Buckets of Discord.
var (
	BucketDiscordCards = []byte("discordcards") // Discord message ID of an incident's card (its thread's ID too) → incident ID (u64)
	BucketDiscordSigs  = []byte("discordsigs")  // an interaction's Ed25519 signature (64 bytes) → when it stops being acceptable (unix s, u64), against replays
)

// Buckets of status pages.
var (
	BucketStatusPages   = []byte("statuspages")   // page incidents, their links to incidents, held-back publications, what each service shows (keys by prefix: package statuspage)
	BucketStatusConfigs = []byte("statusconfigs") // status page name → page JSON, hook URLs included (the pages the API and the config set)
)

// BucketWebhooks holds the outgoing webhooks: "current" → webhook list JSON.
var BucketWebhooks = []byte("webhooks")

// Buckets of web rooms.
var (
	BucketWebOpen = []byte("webopen") // web room ID → nested bucket of incident ID (u64) → the room's view of an open incident (JSON)
)

func allBuckets() [][]byte {
	return [][]byte{BucketMeta, BucketIncidents, BucketEvents, BucketIncidentEntities, BucketRooms,
		BucketRoutes, BucketOutbox, BucketDead, BucketRefs, BucketRoomLog, BucketOnCall, BucketEscalate, BucketInbox, BucketInboxSeen, BucketTeams,
		BucketHipChatAddons, BucketHipChatJTI, BucketSlackMessages, BucketSlackSigs,
		BucketDiscordCards, BucketDiscordSigs, BucketStatusPages, BucketStatusConfigs,
		BucketWebhooks, BucketWebOpen,
	}
}

// ErrLocked means another process holds the data file.
var ErrLocked = errors.New("data file is in use by another sitrep process")

// ErrClosed is returned by Update after Close.
var ErrClosed = errors.New("storage is closed")

// Options tune Open. The zero value is the production setting.
type Options struct {
	// LockTimeout bounds the wait for the file lock; default 1s.
	LockTimeout time.Duration
	// NoSync skips fsync. Only for tests that measure something other than durability.
	NoSync bool
	// MaxBatch caps how many writes share one transaction; default 4096.
	MaxBatch int
	// MaxTxTime is how long a transaction's writes may run before it takes
	// no more and commits (see Turns); default 10ms.
	MaxTxTime time.Duration
}

// DB is the open store. It is safe for concurrent use.
type DB struct {
	bolt      *bolt.DB
	path      string
	reqs      chan *writeReq // Update's lane
	bulk      chan *writeReq // UpdateBulk's lane
	maxBatch  int
	maxTxTime time.Duration

	commits atomic.Uint64 // transactions committed by the writer
	writes  atomic.Uint64 // writes those transactions carried

	closeOnce sync.Once
	mu        sync.RWMutex // guards closed against sends on reqs
	closed    bool
	done      chan struct{}
}

type writeReq struct {
	fn  func(*bolt.Tx) error
	err chan error
}

// Open opens (creating if needed) the bbolt file at path, creates or migrates
// its buckets, and starts the writer goroutine.
func Open(path string, opts Options) (*DB, error) {
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = time.Second
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 4096
	}
	if opts.MaxTxTime <= 0 {
		opts.MaxTxTime = 10 * time.Millisecond
	}
	b, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:        opts.LockTimeout,
		NoFreelistSync: false,
		FreelistType:   bolt.FreelistMapType,
		NoSync:         opts.NoSync,
	})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("open %s: %w", path, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := b.Update(migrate); err != nil {
		_ = b.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db := &DB{
		bolt:      b,
		path:      path,
		reqs:      make(chan *writeReq, opts.MaxBatch),
		bulk:      make(chan *writeReq, opts.MaxBatch),
		maxBatch:  opts.MaxBatch,
		maxTxTime: opts.MaxTxTime,
		done:      make(chan struct{}),
	}
	go db.writer()
	return db, nil
}

// migrate creates missing buckets and moves the schema forward. It refuses a
// file written by a newer sitrep rather than guess at its layout.
func migrate(tx *bolt.Tx) error {
	for _, name := range allBuckets() {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	meta := tx.Bucket(BucketMeta)
	have := uint64(0)
	if v := meta.Get(keySchemaVersion); len(v) == 8 {
		have = binary.BigEndian.Uint64(v)
	}
	if have > SchemaVersion {
		return fmt.Errorf("data file has schema version %d, this build knows only up to %d", have, SchemaVersion)
	}
	// Migrations from have to SchemaVersion, one step per version.
	if have < 2 {
		if err := migrateEntityIndex(tx); err != nil {
			return fmt.Errorf("migrate to schema 2: %w", err)
		}
	}
	return meta.Put(keySchemaVersion, U64(SchemaVersion))
}

// migrateEntityIndex turns schema 1's entity_id → incident index into
// schema 2's incident → entity_id, written in incident order, and drops the
// old bucket. Only each entity's latest incident was indexed; that is all the
// timeline needs.
func migrateEntityIndex(tx *bolt.Tx) error {
	old := tx.Bucket(BucketEntities)
	if old == nil {
		return nil
	}
	type pair struct {
		id     uint64
		entity []byte
	}
	var pairs []pair
	if err := old.ForEach(func(k, v []byte) error {
		if len(v) == 8 {
			pairs = append(pairs, pair{ParseU64(v), bytes.Clone(k)})
		}
		return nil
	}); err != nil {
		return err
	}
	slices.SortFunc(pairs, func(a, b pair) int { return cmp.Compare(a.id, b.id) })
	nb := tx.Bucket(BucketIncidentEntities)
	nb.FillPercent = AppendFill
	for _, p := range pairs {
		if err := nb.Put(U64(p.id), p.entity); err != nil {
			return err
		}
	}
	return tx.DeleteBucket(BucketEntities)
}

// AppendFill is the FillPercent for a bucket whose keys are only ever
// appended (sequence keys): bbolt splits its pages full, where its default
// (0.5) leaves every page of such a bucket half empty for inserts that never
// come.
const AppendFill = 1.0

// Path is the data file's path.
func (db *DB) Path() string { return db.path }

// Update runs fn inside a read-write transaction shared with other concurrent
// callers, and returns once that transaction is durable (or failed). fn may be
// run more than once if another write in its batch fails, so it must derive all
// it writes from tx and its own arguments. If fn returns an error, none of its
// writes are kept and the error is returned as is.
func (db *DB) Update(ctx context.Context, fn func(*bolt.Tx) error) error {
	return db.update(ctx, db.reqs, fn)
}

// UpdateBulk is Update for a large write that may wait: it takes its turn
// after the ordinary writes queued with it (see Turns).
func (db *DB) UpdateBulk(ctx context.Context, fn func(*bolt.Tx) error) error {
	return db.update(ctx, db.bulk, fn)
}

func (db *DB) update(ctx context.Context, lane chan *writeReq, fn func(*bolt.Tx) error) error {
	req := &writeReq{fn: fn, err: make(chan error, 1)}
	db.mu.RLock()
	if db.closed {
		db.mu.RUnlock()
		return ErrClosed
	}
	select {
	case lane <- req:
		db.mu.RUnlock()
	case <-ctx.Done():
		db.mu.RUnlock()
		return fmt.Errorf("storage update: %w", ctx.Err())
	}
	// Once queued, wait for the outcome even if ctx ends: the caller must not
	// be told a write failed when it may still commit.
	return <-req.err
}

// View runs fn in a read-only transaction.
func (db *DB) View(fn func(*bolt.Tx) error) error {
	return db.bolt.View(fn)
}

// Backup writes a consistent copy of the whole file to w. If size is not nil
// it is called with the copy's length before any byte is written.
func (db *DB) Backup(w io.Writer, size func(int64)) (int64, error) {
	var n int64
	err := db.bolt.View(func(tx *bolt.Tx) error {
		if size != nil {
			size(tx.Size())
		}
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("backup: %w", err)
	}
	return n, nil
}

// Stats counts the writer's work since Open.
type Stats struct {
	Commits uint64 // transactions (each one fsync)
	Writes  uint64 // Update calls they carried
	// PageWrites counts the page writes of those transactions (one write
	// syscall each: a page, or a run of overflow pages), and PageBytes their
	// bytes. Each commit also writes its meta page (4 KiB) and calls fdatasync.
	PageWrites int64
	PageBytes  int64
}

// Stats returns how many transactions the writer committed and how many
// writes they carried; Writes/Commits is the group-commit batch size.
func (db *DB) Stats() Stats {
	tx := db.bolt.Stats().TxStats
	return Stats{Commits: db.commits.Load(), Writes: db.writes.Load(), PageWrites: tx.GetWrite(), PageBytes: tx.GetPageAlloc()}
}

// Usage is how much of the data file holds data.
type Usage struct {
	FileBytes int64 // the file's size
	UsedBytes int64 // pages in use: below the high-water mark and not on the freelist
}

// Usage reports the file's size and the bytes of it in use.
func (db *DB) Usage() (Usage, error) {
	var u Usage
	err := db.bolt.View(func(tx *bolt.Tx) error {
		fi, err := os.Stat(db.path)
		if err != nil {
			return err
		}
		st := db.bolt.Stats()
		u.FileBytes = fi.Size()
		u.UsedBytes = tx.Size() - int64(st.FreePageN+st.PendingPageN)*int64(db.bolt.Info().PageSize)
		return nil
	})
	if err != nil {
		return u, fmt.Errorf("usage: %w", err)
	}
	return u, nil
}

// Close stops taking writes, finishes the queued ones and closes the file.
func (db *DB) Close() error {
	var err error
	db.closeOnce.Do(func() {
		db.mu.Lock()
		db.closed = true
		close(db.reqs)
		close(db.bulk)
		db.mu.Unlock()
		<-db.done
		err = db.bolt.Close()
	})
	return err
}

func (db *DB) writer() {
	defer close(db.done)
	reqs, bulk := db.reqs, db.bulk
	var carry []*writeReq // writes the last transaction did not get to, oldest first
	for {
		batch := make([]*writeReq, 0, min(db.maxBatch, 64+len(carry)))
		if len(carry) == 0 {
			// Wait for a write in either lane.
			var r *writeReq
			for r == nil && (reqs != nil || bulk != nil) {
				var ok bool
				select {
				case r, ok = <-reqs:
					if !ok {
						reqs = nil
					}
				case r, ok = <-bulk:
					if !ok {
						bulk = nil
					}
				}
			}
			if r == nil {
				return // closed, and every write answered
			}
			batch = append(batch, r)
		} else {
			// The oldest write left over goes first: every transaction
			// gets through at least one, so neither lane starves.
			batch, carry = append(batch, carry[0]), carry[1:]
		}
		// Take the ordinary writes queued; then, with no fixed delay, yield
		// the processor so writers that are runnable (an HTTP handler about
		// to call Update) can join this transaction, as long as yielding
		// keeps finding more.
		for round := 0; round < maxYields && len(batch) < db.maxBatch; round++ {
			before := len(batch)
			batch, reqs = drain(batch, reqs, db.maxBatch)
			if round > 0 && len(batch) == before {
				break
			}
			runtime.Gosched()
		}
		batch, reqs = drain(batch, reqs, db.maxBatch)
		// Then what was left over, then bulk writes.
		n := min(len(carry), db.maxBatch-len(batch))
		batch, carry = append(batch, carry[:n]...), carry[n:]
		batch, bulk = drain(batch, bulk, db.maxBatch)
		carry = append(db.commit(batch), carry...)
	}
}

// maxYields bounds how often the writer yields to let more writes join a batch.
const maxYields = 8

// drain appends the writes queued in lane to batch, up to max, without
// waiting; a closed lane comes back nil.
func drain(batch []*writeReq, lane chan *writeReq, max int) ([]*writeReq, chan *writeReq) {
	for lane != nil && len(batch) < max {
		select {
		case r, ok := <-lane:
			if !ok {
				return batch, nil
			}
			batch = append(batch, r)
		default:
			return batch, lane
		}
	}
	return batch, lane
}

// commit runs a batch in transactions and returns the writes it did not get
// to (a transaction's writes ran past MaxTxTime). A write whose fn fails is
// answered with its error and rolled back alone: the writes before it run
// again in a fresh transaction and commit, and the ones after it go on in the
// next. So one bad write never takes its neighbours down or leaves half of
// itself behind, and K failures in a batch of N cost about 2N runs, not K·N.
func (db *DB) commit(batch []*writeReq) (rest []*writeReq) {
	pending := batch
	for len(pending) > 0 {
		ran, failed, failErr, err := db.run(pending)
		if failed < 0 {
			db.answer(pending[:ran], err)
			return append(rest, pending[ran:]...)
		}
		pending[failed].err <- failErr
		if failed > 0 {
			// They succeeded once; on their own they commit.
			rest = append(rest, db.commit(pending[:failed])...)
		}
		pending = pending[failed+1:]
	}
	return rest
}

// run runs the writes in one transaction and commits it, unless one fails:
// then it rolls back and returns that write's index and error. It stops
// taking writes once they have run for maxTxTime: ran is how many it took.
func (db *DB) run(pending []*writeReq) (ran, failed int, failErr, err error) {
	failed = -1
	err = db.bolt.Update(func(tx *bolt.Tx) error {
		start := time.Now()
		for i, r := range pending {
			if i > 0 && time.Since(start) > db.maxTxTime {
				ran = i
				return nil
			}
			if err := runSafely(r.fn, tx); err != nil {
				failed, failErr = i, err
				return err
			}
		}
		ran = len(pending)
		return nil
	})
	return ran, failed, failErr, err
}

// answer tells each write of a committed (or failed) transaction its outcome.
func (db *DB) answer(reqs []*writeReq, err error) {
	if err == nil {
		db.commits.Add(1)
		db.writes.Add(uint64(len(reqs)))
	}
	for _, r := range reqs {
		if err != nil {
			r.err <- fmt.Errorf("storage commit: %w", err)
		} else {
			r.err <- nil
		}
	}
}

func runSafely(fn func(*bolt.Tx) error, tx *bolt.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("storage: write panicked: %v", p)
		}
	}()
	return fn(tx)
}

// U64 encodes v as an 8-byte big-endian key, so keys sort numerically.
func U64(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

// ParseU64 decodes a key written by U64; it returns 0 for a key of the wrong size.
func ParseU64(b []byte) uint64 {
	if len(b) < 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b[:8])
}

// Exists reports whether path names an existing file.
func Exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// DeleteBefore deletes every key of b whose value is a time (a u64, in the
// unit the caller stores) before cutoff, or is not a u64 at all, and returns
// how many: the pruning of the stores of replay guards and dedupe keys.
func DeleteBefore(b *bolt.Bucket, cutoff uint64) (int, error) {
	var old [][]byte
	if err := b.ForEach(func(k, v []byte) error {
		if len(v) != 8 || ParseU64(v) < cutoff {
			old = append(old, bytes.Clone(k))
		}
		return nil
	}); err != nil {
		return 0, err
	}
	for _, k := range old {
		if err := b.Delete(k); err != nil {
			return 0, err
		}
	}
	return len(old), nil
}
