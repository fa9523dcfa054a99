package timeline

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sitrep/sitrep/storage"
)

// ErrNotFound means no incident has the given ID.
var ErrNotFound = errors.New("no such incident")

// StateError means an action does not fit the incident's state (acknowledging a resolved incident).
type StateError struct {
	Incident uint64
	State    State
	Action   Kind
}

func (e *StateError) Error() string {
	return fmt.Sprintf("incident #%d is already %s", e.Incident, e.State)
}

// Dispatcher runs inside the transaction that records an event, before the
// incident is saved. It decides which rooms see the event (it may add rooms to
// inc.Rooms) and enqueues their deliveries in tx, so an event and its
// deliveries commit together. It must derive everything from its arguments and
// tx: the transaction can be retried.
type Dispatcher func(tx *bolt.Tx, inc *Incident, ev *Event) (Dispatched, error)

// Dispatched is what a Dispatcher reports beyond the deliveries it enqueued.
type Dispatched struct {
	// Follow are events ev caused on the incident's behalf (a status page
	// update it queued): recorded right after ev, on the same incident, in
	// the same transaction, each dispatched in turn (their own follow-ups
	// are not taken: one level only).
	Follow []Event
	// Wake are destinations beyond inc.Rooms that got outbox entries (a
	// status page's service, a webhook), to be woken after the commit.
	Wake []string
}

// Options configure a Timeline.
type Options struct {
	Dispatch Dispatcher       // may be nil
	Now      func() time.Time // default time.Now
	// Shown, if set, computes what rooms are shown of an alert's fields
	// (render.AlertFields) on the caller's goroutine, before the single
	// writer takes the alert; the result rides on its event as Event.Shown.
	Shown func(fields map[string]string) map[string]string
}

// Timeline applies alerts and actions to incidents, durably.
type Timeline struct {
	db   *storage.DB
	opts Options
	ix   *entityIndex

	mu   sync.RWMutex
	subs []func(Result)
}

// New returns a Timeline on db, its entity index built from what db holds.
// It is the only writer of db's incidents: there is one Timeline per DB.
func New(db *storage.DB, opts Options) *Timeline {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	t := &Timeline{db: db, opts: opts, ix: newEntityIndex()}
	// A failed build is tried again by the first write, which reports it.
	_ = db.View(t.ix.build)
	return t
}

// Subscribe registers fn to hear of every event after it is committed.
// fn runs on the committing goroutine and must not block.
func (t *Timeline) Subscribe(fn func(Result)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.subs = append(t.subs, fn)
}

func (t *Timeline) publish(results []Result) {
	t.mu.RLock()
	subs := t.subs
	t.mu.RUnlock()
	for _, r := range results {
		if r.Event.ID == 0 {
			continue
		}
		for _, fn := range subs {
			fn(r)
		}
	}
}

// BulkAlerts is the most alerts an Ingest carries in the store's ordinary
// lane; a larger batch goes in its bulk lane (storage.DB.UpdateBulk).
const BulkAlerts = 16

// Ingest applies alerts in order in one durable transaction and returns one
// Result per alert, after the fsync. An ACKNOWLEDGEMENT, RECOVERY or INFO for
// an entity that never had an incident changes nothing; its Result has
// Ignored set to say why.
func (t *Timeline) Ingest(ctx context.Context, alerts []Alert) ([]Result, error) {
	for i, a := range alerts {
		if _, ok := ParseMessageType(a.MessageType); !ok {
			return nil, &InvalidError{Index: i, Field: FieldMessageType, Msg: fmt.Sprintf("unknown message_type %q", a.MessageType)}
		}
		if a.EntityID == "" {
			return nil, &InvalidError{Index: i, Field: FieldEntityID, Msg: "empty"}
		}
		if len(a.EntityID) > MaxEntityID {
			return nil, &InvalidError{Index: i, Field: FieldEntityID, Msg: fmt.Sprintf("longer than %d bytes", MaxEntityID)}
		}
	}
	// Encode each alert's fields here, on the caller's goroutine, not in the
	// single writer.
	pre := make([]*encodedFields, len(alerts))
	var shown []map[string]string
	if t.opts.Shown != nil {
		shown = make([]map[string]string, len(alerts))
	}
	for i, a := range alerts {
		pre[i] = encodeFields(a.Fields)
		if shown != nil {
			shown[i] = t.opts.Shown(a.Fields)
		}
	}
	var results []Result
	update := t.db.Update
	if len(alerts) > BulkAlerts {
		update = t.db.UpdateBulk // a batch waits its turn behind deliveries and single alerts
	}
	err := update(ctx, func(tx *bolt.Tx) error {
		results = results[:0]
		now := t.opts.Now().UTC()
		for i, a := range alerts {
			var sh map[string]string
			if shown != nil {
				sh = shown[i]
			}
			r, err := t.applyAlert(tx, a, pre[i], sh, now)
			if err != nil {
				return err
			}
			results = append(results, r)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	t.publish(results)
	return results, nil
}

func (t *Timeline) applyAlert(tx *bolt.Tx, a Alert, pre *encodedFields, shown map[string]string, now time.Time) (Result, error) {
	mt, _ := ParseMessageType(a.MessageType)
	at := a.Time.UTC()
	if y := at.Year(); a.Time.IsZero() || y < 1 || y > 9999 { // unset, or not a time JSON can carry
		at = now
	}
	origin := a.Origin
	if origin.Time.IsZero() {
		origin.Time = now
	}
	inc, found, prev, err := t.latestForEntity(tx, a.EntityID)
	if err != nil {
		return Result{}, err
	}
	ev := Event{Text: a.Fields[FieldStateMessage], Fields: a.Fields, Shown: shown, Origin: origin, Time: at}
	created := false
	switch mt {
	case MsgCritical, MsgWarning:
		if found && inc.Open() {
			ev.Kind = KindUpdated
			if inc.Fields[FieldMessageType] == a.Fields[FieldMessageType] && inc.Fields[FieldStateMessage] == a.Fields[FieldStateMessage] &&
				inc.Title == TitleOf(a.Fields, a.EntityID) {
				ev.Kind = KindRepeated // Alertmanager re-sends firing alerts; nothing new to tell
			}
		} else {
			seq, err := tx.Bucket(storage.BucketIncidents).NextSequence()
			if err != nil {
				return Result{}, fmt.Errorf("next incident id: %w", err)
			}
			inc = Incident{ID: seq, EntityID: a.EntityID, State: StateTriggered, OpenedAt: at}
			ents := tx.Bucket(storage.BucketIncidentEntities)
			ents.FillPercent = storage.AppendFill
			if err := ents.Put(storage.U64(seq), []byte(a.EntityID)); err != nil {
				return Result{}, fmt.Errorf("index entity: %w", err)
			}
			t.ix.set(tx, a.EntityID, prev, seq)
			ev.Kind, created = KindTriggered, true
		}
		inc.Fields = a.Fields
		inc.Title = TitleOf(a.Fields, a.EntityID)
	case MsgAcknowledgement:
		if !found {
			return Result{Ignored: "no incident for entity_id " + a.EntityID}, nil
		}
		ev.Kind = KindNote
		if inc.State == StateTriggered {
			ev.Kind = KindAcknowledged
			inc.State = StateAcknowledged
			inc.AcknowledgedAt = &at
			inc.AcknowledgedBy = cmp.Or(a.Fields["ack_author"], origin.User, a.Fields["monitoring_tool"])
			ev.Origin.User = inc.AcknowledgedBy
		}
		ev.Text = cmp.Or(a.Fields["ack_msg"], a.Fields[FieldStateMessage])
	case MsgRecovery:
		if !found {
			return Result{Ignored: "no incident for entity_id " + a.EntityID}, nil
		}
		ev.Kind = KindNote
		if inc.Open() {
			ev.Kind = KindResolved
			inc.State = StateResolved
			inc.ResolvedAt = &at
			inc.ResolvedBy = cmp.Or(origin.User, a.Fields["monitoring_tool"], origin.Adapter)
		}
	case MsgInfo:
		if !found {
			return Result{Ignored: "no incident for entity_id " + a.EntityID}, nil
		}
		ev.Kind = KindNote
	}
	return t.record(tx, &inc, ev, created, pre)
}

// record stores ev on inc's timeline, lets the dispatcher route it, and saves inc.
// pre, if not nil, is the alert's fields already encoded.
func (t *Timeline) record(tx *bolt.Tx, inc *Incident, ev Event, created bool, pre *encodedFields) (Result, error) {
	return t.recordEvent(tx, inc, ev, created, pre, false)
}

// recordEvent is record; a followUp's own follow-ups are not taken.
func (t *Timeline) recordEvent(tx *bolt.Tx, inc *Incident, ev Event, created bool, pre *encodedFields, followUp bool) (Result, error) {
	evs := tx.Bucket(storage.BucketEvents)
	evs.FillPercent = storage.AppendFill // keys grow but for events of older incidents
	id, err := evs.NextSequence()
	if err != nil {
		return Result{}, fmt.Errorf("next event id: %w", err)
	}
	ev.ID, ev.IncidentID = id, inc.ID
	inc.LastEventID = id
	if inc.FirstEventID == 0 {
		inc.FirstEventID = id
	}
	inc.UpdatedAt = ev.Time
	var d Dispatched
	if t.opts.Dispatch != nil {
		var err error
		if d, err = t.opts.Dispatch(tx, inc, &ev); err != nil {
			return Result{}, fmt.Errorf("dispatch event: %w", err)
		}
	}
	// bbolt keeps the value until commit, so each record gets its own buffer.
	b, err := appendEvent(make([]byte, 0, 512), &ev, pre)
	if err != nil {
		return Result{}, fmt.Errorf("encode event: %w", err)
	}
	if err := evs.Put(eventKey(inc.ID, id), b); err != nil {
		return Result{}, fmt.Errorf("store event: %w", err)
	}
	// The incident's fields are this event's (an alert's, as routed): the
	// record points at the event rather than holding them a second time.
	// Otherwise (an ack or a note kept the fields of an older event) they are
	// written out.
	inc.FieldsEvent = 0
	if len(inc.Fields) > 0 && sameFields(inc.Fields, ev.Fields) {
		inc.FieldsEvent = id
	}
	if err := putIncident(tx, inc, pre); err != nil {
		return Result{}, err
	}
	res := Result{Event: ev, Created: created, Wake: d.Wake}
	if !followUp {
		for _, f := range d.Follow {
			if f.Time.IsZero() {
				f.Time = ev.Time
			}
			fr, err := t.recordEvent(tx, inc, f, false, nil, true)
			if err != nil {
				return Result{}, fmt.Errorf("follow-up %s: %w", f.Kind, err)
			}
			res.Follow = append(res.Follow, fr.Event)
			res.Wake = append(res.Wake, fr.Wake...)
		}
	}
	res.Incident = *inc
	return res, nil
}

// Action is something a responder did to an incident from a room or the API.
type Action struct {
	IncidentID uint64
	Kind       Kind // KindAcknowledged, KindResolved, KindChat, KindNote, KindCommand, KindStatusPage or KindEscalated
	Text       string
	Fields     map[string]string // what the action names beyond its text (a status page change: page, state, status), kept on its event
	Origin     Origin
	// Also, if set, runs in the action's transaction once its event is
	// recorded, for writes that must commit with it or not at all (a
	// notice's team timeline line); it returns destinations to wake, which
	// are added to the result's Wake. Like a Dispatcher it may run again if
	// the transaction is retried.
	Also func(tx *bolt.Tx, res Result) ([]string, error)
}

// Act applies a responder's action to an incident. Acknowledging or resolving
// an incident that is already past that state is a *StateError; an unknown
// incident is ErrNotFound.
func (t *Timeline) Act(ctx context.Context, a Action) (Result, error) {
	switch a.Kind {
	case KindAcknowledged, KindResolved, KindChat, KindNote, KindCommand, KindStatusPage, KindEscalated:
	default:
		return Result{}, fmt.Errorf("act: unsupported action %q", a.Kind)
	}
	var res Result
	err := t.db.Update(ctx, func(tx *bolt.Tx) error {
		now := t.opts.Now().UTC()
		inc, err := getIncident(tx, a.IncidentID)
		if err != nil {
			return err
		}
		origin := a.Origin
		if origin.Time.IsZero() {
			origin.Time = now
		}
		switch a.Kind {
		case KindAcknowledged:
			if inc.State != StateTriggered {
				return &StateError{Incident: inc.ID, State: inc.State, Action: a.Kind}
			}
			inc.State, inc.AcknowledgedAt, inc.AcknowledgedBy = StateAcknowledged, &now, origin.User
		case KindResolved:
			if inc.State == StateResolved {
				return &StateError{Incident: inc.ID, State: inc.State, Action: a.Kind}
			}
			inc.State, inc.ResolvedAt, inc.ResolvedBy = StateResolved, &now, origin.User
		case KindEscalated:
			if inc.State != StateTriggered {
				return &StateError{Incident: inc.ID, State: inc.State, Action: a.Kind}
			}
		}
		res, err = t.record(tx, &inc, Event{Kind: a.Kind, Text: a.Text, Fields: a.Fields, Origin: origin, Time: now}, false, nil)
		if err != nil || a.Also == nil {
			return err
		}
		wake, err := a.Also(tx, res)
		res.Wake = append(res.Wake, wake...)
		return err
	})
	if err != nil {
		return Result{}, fmt.Errorf("act on incident #%d: %w", a.IncidentID, err)
	}
	t.publish([]Result{res})
	return res, nil
}

// Incident returns an incident and its timeline, oldest event first.
func (t *Timeline) Incident(id uint64) (Incident, []Event, error) {
	var inc Incident
	var events []Event
	err := t.db.View(func(tx *bolt.Tx) error {
		var err error
		if inc, err = getIncident(tx, id); err != nil {
			return err
		}
		prefix := storage.U64(id)
		c := tx.Bucket(storage.BucketEvents).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			ev, err := decodeEvent(v)
			if err != nil {
				return fmt.Errorf("decode event %x: %w", k, err)
			}
			events = append(events, ev)
		}
		return nil
	})
	return inc, events, err
}

// Incidents lists incidents newest first, optionally only those in state,
// at most limit of them (0: no limit).
func (t *Timeline) Incidents(state State, limit int) ([]Incident, error) {
	var out []Incident
	err := t.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(storage.BucketIncidents).Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			inc, err := decodeIncident(v)
			if err != nil {
				return fmt.Errorf("decode incident %d: %w", storage.ParseU64(k), err)
			}
			if state != "" && inc.State != state {
				continue
			}
			if err := loadFields(tx, &inc); err != nil {
				return err
			}
			out = append(out, inc)
			if limit > 0 && len(out) >= limit {
				break
			}
		}
		return nil
	})
	return out, err
}

// latestForEntity returns entity's latest incident, if it has one; prev is
// its ID (0 if none), for the index's update when a new one opens.
func (t *Timeline) latestForEntity(tx *bolt.Tx, entity string) (inc Incident, found bool, prev uint64, err error) {
	id, fromHash, err := t.ix.lookup(tx, entity)
	if err != nil || id == 0 {
		return Incident{}, false, 0, err
	}
	inc, err = getIncident(tx, id)
	switch {
	case errors.Is(err, ErrNotFound): // not kept any more: the entity starts afresh
		return Incident{}, false, id, nil
	case err != nil:
		return Incident{}, false, 0, err
	case fromHash && inc.EntityID != entity: // another entity's, sharing the hash
		return Incident{}, false, 0, nil
	}
	return inc, true, id, nil
}

func getIncident(tx *bolt.Tx, id uint64) (Incident, error) {
	v := tx.Bucket(storage.BucketIncidents).Get(storage.U64(id))
	if v == nil {
		return Incident{}, fmt.Errorf("#%d: %w", id, ErrNotFound)
	}
	inc, err := decodeIncident(v)
	if err != nil {
		return inc, fmt.Errorf("decode incident %d: %w", id, err)
	}
	if err := loadFields(tx, &inc); err != nil {
		return inc, err
	}
	return inc, nil
}

// loadFields reads a stored incident's fields from its FieldsEvent.
func loadFields(tx *bolt.Tx, inc *Incident) error {
	if inc.FieldsEvent == 0 || inc.Fields != nil {
		return nil
	}
	v := tx.Bucket(storage.BucketEvents).Get(eventKey(inc.ID, inc.FieldsEvent))
	if v == nil {
		return nil // pruned with the incident it belonged to: no fields to show
	}
	ev, err := decodeEvent(v)
	if err != nil {
		return fmt.Errorf("decode event %d of incident %d: %w", inc.FieldsEvent, inc.ID, err)
	}
	inc.Fields = ev.Fields
	if inc.Title == "" {
		inc.Title = TitleOf(inc.Fields, inc.EntityID)
	}
	return nil
}

// putIncident stores inc; with a FieldsEvent, without the fields it holds,
// and without its title if the fields make it (loadFields makes it again).
func putIncident(tx *bolt.Tx, inc *Incident, pre *encodedFields) error {
	rec := inc
	if inc.FieldsEvent != 0 {
		c := *inc
		c.Fields = nil
		if c.Title == TitleOf(inc.Fields, inc.EntityID) {
			c.Title = ""
		}
		rec = &c
	}
	b, err := appendIncident(make([]byte, 0, 320), rec, pre)
	if err != nil {
		return fmt.Errorf("encode incident: %w", err)
	}
	incs := tx.Bucket(storage.BucketIncidents)
	incs.FillPercent = storage.AppendFill // new incidents append; a rewrite splits a page at worst
	if err := incs.Put(storage.U64(inc.ID), b); err != nil {
		return fmt.Errorf("store incident: %w", err)
	}
	return nil
}

// sameFields reports whether a and b hold the same fields: the same map
// (the hot path) or equal ones.
func sameFields(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	if reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer() {
		return true
	}
	return maps.Equal(a, b)
}

func eventKey(incident, event uint64) []byte {
	k := make([]byte, 16)
	copy(k, storage.U64(incident))
	copy(k[8:], storage.U64(event))
	return k
}

// TitleOf is the title of an incident an alert with fields for entity opens:
// its entity_display_name, else the entity ID.
func TitleOf(fields map[string]string, entity string) string {
	return cmp.Or(fields[FieldEntityDisplayName], entity)
}
