package statuspage

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sitrep/sitrep/routing"
	"github.com/sitrep/sitrep/storage"
)

// Keys of storage.BucketStatusPages, by prefix.
var (
	prefixIncident = []byte("i/") // page incident key (u64) → PageIncident JSON
	prefixLinks    = []byte("l/") // sitrep incident ID (u64) → links JSON
	prefixWait     = []byte("w/") // due (unix ns, u64) ‖ sitrep incident ID (u64) ‖ target index (u64) → Pending JSON
	prefixCombine  = []byte("c/") // page ‖ 0 ‖ services joined by "," → open page incident key (u64)
	prefixLast     = []byte("s/") // page ‖ 0 ‖ service → Shown JSON
)

// PageIncident is one incident on one status page: what sitrep last sent
// for it, and the sitrep incidents behind it.
type PageIncident struct {
	Key         uint64    `json:"key"`
	Page        string    `json:"page"`
	Kind        string    `json:"kind"`
	Services    []string  `json:"services,omitempty"` // [""] for a page without services
	Title       string    `json:"title"`
	Description string    `json:"description,omitempty"`
	State       State     `json:"state,omitempty"`
	Status      Status    `json:"status"`
	Start       time.Time `json:"start"`
	End         time.Time `json:"end,omitzero"` // a maintenance's
	Maintenance bool      `json:"maintenance,omitempty"`
	Silent      bool      `json:"silent,omitempty"`
	Draft       bool      `json:"draft,omitempty"`
	// Manual is set for a page incident opened from chat (/incident open):
	// no route's automation applies to it.
	Manual         bool   `json:"manual,omitempty"`
	Combine        bool   `json:"combine,omitempty"`
	AutoClose      bool   `json:"auto_close,omitempty"`
	ClosingComment string `json:"closing_comment,omitempty"`
	MonitorName    string `json:"monitor_name,omitempty"`
	EntityState    string `json:"entity_state,omitempty"`
	// Incidents are the sitrep incidents behind it; Firing those of them
	// not yet resolved (a combined page incident recovers with the last).
	Incidents []uint64 `json:"incidents"`
	Firing    []uint64 `json:"firing,omitempty"`
	Updates   int      `json:"updates"`
	// Origin is the sitrep room it was opened from, if any (a maintenance's
	// failures are told there).
	Origin  string    `json:"origin,omitempty"`
	Updated time.Time `json:"updated"`
	// Dated is the start_time of its latest update: no later update is
	// dated before it, whatever the clocks of the events' sources say.
	Dated time.Time `json:"dated,omitzero"`
}

// ID is the page incident's id on its page: the same for every update.
func (p *PageIncident) ID() string { return fmt.Sprintf("sitrep-%s-%d", p.Page, p.Key) }

// Open reports whether the page incident is not yet resolved.
func (p *PageIncident) Open() bool { return p.State != Resolved && (!p.Maintenance || p.Updates == 0) }

// Shows is what p shows on its page: "identified, down", a maintenance's
// window and status, "(draft)" while a draft.
func (p *PageIncident) Shows() string {
	what := string(p.Status)
	if p.State != "" {
		what = string(p.State) + ", " + what
	}
	if p.Maintenance {
		what = "maintenance " + p.Start.UTC().Format("2006-01-02 15:04") + "–" + p.End.UTC().Format("2006-01-02 15:04 UTC") + ", " + string(p.Status)
	}
	if p.Draft {
		what += " (draft)"
	}
	return what
}

// links is what a sitrep incident has on status pages.
type links struct {
	Pages   []uint64 `json:"pages,omitempty"`   // page incident keys
	Waiting [][]byte `json:"waiting,omitempty"` // wait keys of publications held back
}

// Pending is a publication held back by a route's wait.
type Pending struct {
	Incident uint64             `json:"incident"`
	Target   routing.PageTarget `json:"target"`
	Start    time.Time          `json:"start"` // the alert's time: the page incident's start_time
	Status   Status             `json:"status"`
	Due      time.Time          `json:"due"`
}

// Shown is what sitrep last sent one service of a page.
type Shown struct {
	Page     string    `json:"page"`
	Service  string    `json:"service,omitempty"`
	Key      uint64    `json:"key"`
	Incident uint64    `json:"incident,omitempty"` // the first sitrep incident behind it
	Title    string    `json:"title"`
	State    State     `json:"state,omitempty"`
	Status   Status    `json:"status"`
	Sent     time.Time `json:"sent"`
	Maint    bool      `json:"maintenance,omitempty"`
}

func key(prefix []byte, parts ...[]byte) []byte {
	k := slices.Clone(prefix)
	for _, p := range parts {
		k = append(k, p...)
	}
	return k
}

func bucket(tx *bolt.Tx) *bolt.Bucket { return tx.Bucket(storage.BucketStatusPages) }

func getJSON(b *bolt.Bucket, k []byte, v any) (bool, error) {
	raw := b.Get(k)
	if raw == nil {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return false, fmt.Errorf("decode %q: %w", k, err)
	}
	return true, nil
}

func putJSON(b *bolt.Bucket, k []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %q: %w", k, err)
	}
	return b.Put(k, raw)
}

func getPage(b *bolt.Bucket, k uint64) (PageIncident, bool, error) {
	var p PageIncident
	ok, err := getJSON(b, key(prefixIncident, storage.U64(k)), &p)
	return p, ok, err
}

func putPage(b *bolt.Bucket, p *PageIncident) error {
	return putJSON(b, key(prefixIncident, storage.U64(p.Key)), p)
}

func getLinks(b *bolt.Bucket, incident uint64) (links, error) {
	var l links
	_, err := getJSON(b, key(prefixLinks, storage.U64(incident)), &l)
	return l, err
}

func putLinks(b *bolt.Bucket, incident uint64, l links) error {
	k := key(prefixLinks, storage.U64(incident))
	if len(l.Pages) == 0 && len(l.Waiting) == 0 {
		return b.Delete(k)
	}
	return putJSON(b, k, l)
}

// forgetWait deletes the held-back publication k of incident and its link.
func forgetWait(b *bolt.Bucket, incident uint64, k []byte) error {
	if err := b.Delete(k); err != nil {
		return err
	}
	l, err := getLinks(b, incident)
	if err != nil {
		return err
	}
	l.Waiting = slices.DeleteFunc(l.Waiting, func(w []byte) bool { return bytes.Equal(w, k) })
	return putLinks(b, incident, l)
}

func waitKey(due time.Time, incident uint64, i int) []byte {
	return key(prefixWait, storage.U64(uint64(due.UnixNano())), storage.U64(incident), storage.U64(uint64(i)))
}

func combineKey(page string, services []string) []byte {
	s := slices.Sorted(slices.Values(services))
	return key(prefixCombine, []byte(page), []byte{0}, []byte(strings.Join(s, ",")))
}

func lastKey(page, service string) []byte {
	return key(prefixLast, []byte(page), []byte{0}, []byte(service))
}

// scan calls fn for each key under prefix, in key order, until it returns false.
func scan(b *bolt.Bucket, prefix []byte, fn func(k, v []byte) (bool, error)) error {
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		more, err := fn(k, v)
		if err != nil || !more {
			return err
		}
	}
	return nil
}
