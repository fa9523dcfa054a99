// Package retention keeps the data file from growing without end: in the
// background it prunes resolved incidents whose last event is older than the
// retention (90 days by default), with their events, entity records and what
// other packages keep of them, in small transactions through the store's
// single writer, so pruning never stalls ingest for longer than one small
// write.
//
// An open incident is never pruned, nor one a pending outbox entry still
// names. Each package that keeps records of incidents says how to prune
// them, in one of two ways:
//
//   - a Hook, run in the transaction that deletes each incident, for records
//     keyed by incident (outbox refs: incident ID ‖ room); its Keep may veto
//     the pruning (the outbox does while an entry for the incident is pending);
//   - a Sweep, for buckets keyed otherwise that name an incident in their
//     value (Slack's message → incident, Discord's card → incident): after
//     each pass its bucket is scanned, in small transactions, and entries
//     whose incident is gone are deleted.
//
// The web room's log is bounded by its own trim (web.history lines a room)
// and team timelines are team-scoped: neither is pruned here. A package that
// adds a bucket naming incidents (status pages, on-call) adds its Hook or
// Sweep where the bot builds the Pruner (bot.retentionHooks).
package retention

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sitrep/sitrep/storage"
	"github.com/sitrep/sitrep/timeline"
)

// Hook is one package's part in pruning an incident.
type Hook struct {
	Name string
	// Keep, if not nil, is called once per pruning transaction and returns
	// the test that spares an incident (true: keep it).
	Keep func(tx *bolt.Tx) (func(inc timeline.Incident) bool, error)
	// Prune, if not nil, deletes the package's records of inc in the
	// transaction that deletes inc.
	Prune func(tx *bolt.Tx, inc timeline.Incident) error
}

// Sweep cleans a bucket whose values name incidents.
type Sweep struct {
	Name   string
	Bucket []byte
	// Incident is the incident an entry names; 0 keeps the entry.
	Incident func(k, v []byte) uint64
}

// Options configure a Pruner.
type Options struct {
	DB       *storage.DB
	Timeline *timeline.Timeline
	// Keep is how long a resolved incident is kept after its last event; 0 disables pruning.
	Keep time.Duration
	// Every is the pause between passes; default 1h.
	Every time.Duration
	// Delay is the wait before the first pass, so that a start is not slowed
	// by a scan of the whole store; default 1m.
	Delay time.Duration
	// Batch caps the incidents (or swept entries ×100) one transaction deletes; default 64.
	Batch int
	// Pause is the rest between two transactions of a pass; default 10ms.
	Pause  time.Duration
	Hooks  []Hook
	Sweeps []Sweep
	Logger *slog.Logger
	Now    func() time.Time // default time.Now
}

// Pruner prunes in the background.
type Pruner struct {
	opts Options

	// The hooks' Keep tests of the current write transaction; only the
	// store's writer, one transaction at a time, touches them.
	cacheTx *bolt.Tx
	cache   []func(timeline.Incident) bool
}

// New returns a Pruner; nothing is pruned until Run.
func New(opts Options) *Pruner {
	if opts.Every <= 0 {
		opts.Every = time.Hour
	}
	if opts.Delay <= 0 {
		opts.Delay = time.Minute
	}
	if opts.Batch <= 0 {
		opts.Batch = 64
	}
	if opts.Pause <= 0 {
		opts.Pause = 10 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Pruner{opts: opts}
}

// Run prunes a pass after Delay and then every Every, until ctx ends. With
// Keep 0 it only waits for ctx.
func (p *Pruner) Run(ctx context.Context) error {
	if p.opts.Keep <= 0 {
		<-ctx.Done()
		return nil
	}
	select {
	case <-ctx.Done():
		return nil
	case <-time.After(p.opts.Delay):
	}
	for {
		if st, err := p.Pass(ctx); err != nil && ctx.Err() == nil {
			p.opts.Logger.Error("retention pass failed", "err", err, "pruned", st.Incidents)
		} else if st.Incidents > 0 || st.Swept > 0 {
			p.opts.Logger.Info("retention pass", "pruned_incidents", st.Incidents, "swept", st.Swept, "kept_for", p.opts.Keep)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(p.opts.Every):
		}
	}
}

// PassStats is what one pass removed.
type PassStats struct {
	Incidents int // incidents pruned, with their events
	Swept     int // entries the sweeps deleted
}

// Pass prunes everything due once, in small transactions.
func (p *Pruner) Pass(ctx context.Context) (PassStats, error) {
	var st PassStats
	if p.opts.Keep <= 0 {
		return st, nil
	}
	cutoff := p.opts.Now().Add(-p.opts.Keep)
	after := uint64(0)
	for {
		res, err := p.opts.Timeline.Prune(ctx, after, cutoff, p.opts.Batch, p.check)
		st.Incidents += res.Pruned
		if err != nil {
			return st, err
		}
		if res.Done {
			break
		}
		after = res.Next
		if err := p.rest(ctx); err != nil {
			return st, err
		}
	}
	for _, s := range p.opts.Sweeps {
		n, err := p.sweep(ctx, s)
		st.Swept += n
		if err != nil {
			return st, fmt.Errorf("sweep %s: %w", s.Name, err)
		}
	}
	return st, nil
}

func (p *Pruner) rest(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(p.opts.Pause):
		return nil
	}
}

// check composes the hooks into the timeline's PruneCheck; the Keep tests
// are made once per transaction.
func (p *Pruner) check(tx *bolt.Tx, inc timeline.Incident) (bool, error) {
	keeps, err := p.keeps(tx)
	if err != nil {
		return true, err
	}
	for _, keep := range keeps {
		if keep(inc) {
			return true, nil
		}
	}
	for _, h := range p.opts.Hooks {
		if h.Prune == nil {
			continue
		}
		if err := h.Prune(tx, inc); err != nil {
			return true, fmt.Errorf("prune %s of #%d: %w", h.Name, inc.ID, err)
		}
	}
	return false, nil
}

// keeps returns the hooks' Keep tests for tx, made on its first use.
func (p *Pruner) keeps(tx *bolt.Tx) ([]func(timeline.Incident) bool, error) {
	// One write transaction at a time: the cache is the current one's.
	if p.cacheTx == tx {
		return p.cache, nil
	}
	var out []func(timeline.Incident) bool
	for _, h := range p.opts.Hooks {
		if h.Keep == nil {
			continue
		}
		keep, err := h.Keep(tx)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", h.Name, err)
		}
		out = append(out, keep)
	}
	p.cacheTx, p.cache = tx, out
	return out, nil
}

// sweep deletes s's entries whose incident is gone, scanning its bucket in
// transactions of up to 100×Batch entries.
func (p *Pruner) sweep(ctx context.Context, s Sweep) (int, error) {
	total := 0
	var from []byte
	for {
		var next []byte
		n := 0
		err := p.opts.DB.UpdateBulk(ctx, func(tx *bolt.Tx) error {
			n, next = 0, nil
			b := tx.Bucket(s.Bucket)
			if b == nil {
				return nil
			}
			var gone [][]byte
			c := b.Cursor()
			k, v := c.First()
			if from != nil {
				k, v = c.Seek(from)
			}
			for seen := 0; k != nil; k, v = c.Next() {
				if seen == 100*p.opts.Batch {
					next = bytes.Clone(k)
					break
				}
				seen++
				if id := s.Incident(k, v); id != 0 && !timeline.IncidentExists(tx, id) {
					gone = append(gone, bytes.Clone(k))
				}
			}
			for _, k := range gone {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
			n = len(gone)
			return nil
		})
		total += n
		if err != nil || next == nil {
			return total, err
		}
		from = next
		if err := p.rest(ctx); err != nil {
			return total, err
		}
	}
}
