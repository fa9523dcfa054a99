// Package inbox is where what responders send from a platform (a typed
// line, a slash command, a button press) waits until sitrep has handled it.
// Each Inbound is stored before it is handled and cleared once it has been,
// so nothing a platform handed over is lost if sitrep stops, or dies, in
// between: Replay hands what is left to the Handler when sitrep starts
// again. An Inbound that carries a platform dedupe key (Inbound.Key) is
// applied once: a platform's retry of it within Keep is acknowledged and
// dropped.
//
// A crash after the Handler's own commit but before the inbox entry is
// cleared hands that one Inbound over again on restart (at least once, as the
// outbox delivers); its dedupe key is then already known, so only Inbounds
// without one can repeat that way.
package inbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/storage"
)

// Defaults.
const (
	// DefaultKeep is how long a dedupe key is remembered: far longer than
	// any platform retries (Slack for about 30 minutes, HipChat and Discord
	// for less).
	DefaultKeep = 24 * time.Hour
	// DefaultTimeout bounds one Handler call.
	DefaultTimeout = 30 * time.Second
	pruneEvery     = time.Hour
)

// ErrDuplicate means the Inbound's dedupe key was seen before: a platform's
// retry of something already taken.
var ErrDuplicate = errors.New("inbox: already received")

// Options configure an Inbox.
type Options struct {
	Keep    time.Duration // default DefaultKeep
	Timeout time.Duration // default DefaultTimeout
	Logger  *slog.Logger
	Now     func() time.Time
}

// Inbox stores Inbounds and hands them to a Handler.
type Inbox struct {
	db      *storage.DB
	handler adapters.Handler
	opts    Options
	log     *slog.Logger
}

// New returns an Inbox that hands what it stores to handler.
func New(db *storage.DB, handler adapters.Handler, opts Options) *Inbox {
	if opts.Keep <= 0 {
		opts.Keep = DefaultKeep
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Inbox{db: db, handler: handler, opts: opts, log: log}
}

// Ticket names a stored Inbound until it is handled.
type Ticket uint64

func seenKey(in adapters.Inbound) []byte {
	return append(append([]byte(in.Platform), 0), in.Key...)
}

// Put stores in as received, inside tx (a platform adapter's own commit,
// such as the web room's log append, so what a room shows and what sitrep
// will handle are written together). It returns ErrDuplicate, storing
// nothing, when in.Key was seen within Keep.
func (b *Inbox) Put(tx *bolt.Tx, in adapters.Inbound) (Ticket, error) {
	now := b.opts.Now()
	if in.Key != "" {
		seen := tx.Bucket(storage.BucketInboxSeen)
		k := seenKey(in)
		if v := seen.Get(k); len(v) == 8 && now.Sub(time.Unix(0, int64(storage.ParseU64(v)))) < b.opts.Keep {
			return 0, ErrDuplicate
		}
		if err := seen.Put(k, storage.U64(uint64(now.UnixNano()))); err != nil {
			return 0, fmt.Errorf("inbox: remember key: %w", err)
		}
	}
	pending := tx.Bucket(storage.BucketInbox)
	seq, err := pending.NextSequence()
	if err != nil {
		return 0, fmt.Errorf("inbox: next sequence: %w", err)
	}
	raw, err := json.Marshal(in)
	if err != nil {
		return 0, fmt.Errorf("inbox: encode: %w", err)
	}
	if err := pending.Put(storage.U64(seq), raw); err != nil {
		return 0, fmt.Errorf("inbox: store: %w", err)
	}
	return Ticket(seq), nil
}

// Store stores in in its own commit and returns its ticket for Handle: for a
// platform that must answer its request quickly, it stores before it answers
// (so an acknowledged request is never lost) and hands the Inbound over
// after, racing its own deadline. ErrDuplicate means a platform retry of an
// Inbound already received.
func (b *Inbox) Store(ctx context.Context, in adapters.Inbound) (Ticket, error) {
	var t Ticket
	err := b.db.Update(ctx, func(tx *bolt.Tx) error {
		var err error
		t, err = b.Put(tx, in)
		return err
	})
	return t, err
}

// Receive stores in, hands it to the Handler and clears it: an
// adapters.Handler for platforms that have no commit of their own to share.
// A platform's retry of an Inbound already received gets an empty Reply.
func (b *Inbox) Receive(ctx context.Context, in adapters.Inbound) (adapters.Reply, error) {
	t, err := b.Store(ctx, in)
	if errors.Is(err, ErrDuplicate) {
		b.log.Info("inbound already received; a platform retry is dropped", "platform", in.Platform, "room", in.RoomID, "key", in.Key)
		return adapters.Reply{}, nil
	}
	if err != nil {
		return adapters.Reply{}, err
	}
	return b.Handle(ctx, t, in)
}

// Handle hands the Inbound stored as t to the Handler, within Timeout, and
// clears it; a Handler cut off by ctx leaves it for Replay. A panicking
// Handler is an error, not a crash.
func (b *Inbox) Handle(ctx context.Context, t Ticket, in adapters.Inbound) (adapters.Reply, error) {
	reply, err := b.call(ctx, in)
	if err == nil || ctx.Err() == nil {
		b.clear(t)
	}
	return reply, err
}

func (b *Inbox) call(ctx context.Context, in adapters.Inbound) (reply adapters.Reply, err error) {
	if b.handler == nil {
		return adapters.Reply{}, nil
	}
	defer func() {
		if p := recover(); p != nil {
			b.log.Error("handler panicked", "platform", in.Platform, "room", in.RoomID, "panic", p)
			reply, err = adapters.Reply{}, errors.New("internal error while handling your message")
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, b.opts.Timeout)
	defer cancel()
	return b.handler(ctx, in)
}

// clear removes a handled Inbound. It is not tied to any request: it must
// happen even while sitrep shuts down.
func (b *Inbox) clear(t Ticket) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.db.Update(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(storage.BucketInbox).Delete(storage.U64(uint64(t)))
	}); err != nil && !errors.Is(err, storage.ErrClosed) {
		b.log.Warn("could not clear a handled inbound; it will be handed over again on restart", "ticket", uint64(t), "err", err)
	}
}

// Replay hands the Handler every Inbound stored but not handled when sitrep
// last stopped, oldest first, and returns how many. Replies cannot reach
// their senders any more; they are logged.
func (b *Inbox) Replay(ctx context.Context) (int, error) {
	type left struct {
		key []byte
		in  adapters.Inbound
	}
	var lines []left
	err := b.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(storage.BucketInbox).ForEach(func(k, v []byte) error {
			var in adapters.Inbound
			if err := json.Unmarshal(v, &in); err != nil {
				return fmt.Errorf("decode inbound %x: %w", k, err)
			}
			lines = append(lines, left{append([]byte(nil), k...), in})
			return nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("read the inbox: %w", err)
	}
	for _, l := range lines {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		reply, err := b.call(ctx, l.in)
		if err != nil && ctx.Err() != nil {
			return 0, err // stopping: it stays for the next start
		}
		b.log.Info("handled an inbound left over from the last run", "platform", l.in.Platform, "room", l.in.RoomID, "user", l.in.User, "reply", reply.Text, "err", err)
		if err := b.db.Update(context.WithoutCancel(ctx), func(tx *bolt.Tx) error {
			return tx.Bucket(storage.BucketInbox).Delete(l.key)
		}); err != nil {
			return 0, fmt.Errorf("clear a replayed inbound: %w", err)
		}
	}
	return len(lines), nil
}

// Run forgets dedupe keys older than Keep, now and then, until ctx ends.
func (b *Inbox) Run(ctx context.Context) error {
	t := time.NewTicker(pruneEvery)
	defer t.Stop()
	for {
		if _, err := b.Prune(ctx); err != nil && ctx.Err() == nil {
			b.log.Warn("prune inbox dedupe keys", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Prune forgets dedupe keys older than Keep and returns how many.
func (b *Inbox) Prune(ctx context.Context) (int, error) {
	cutoff := b.opts.Now().Add(-b.opts.Keep).UnixNano()
	n := 0
	err := b.db.Update(ctx, func(tx *bolt.Tx) error {
		var err error
		n, err = storage.DeleteBefore(tx.Bucket(storage.BucketInboxSeen), uint64(max(cutoff, 0)))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("inbox prune: %w", err)
	}
	return n, nil
}
