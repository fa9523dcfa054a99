// Package statuspage publishes sitrep's incidents on public status pages
// (StatusHub's Generic Hook v2, StatusCast), automatically from the routes'
// status_page blocks and by hand from chat (/incident open, update, resolve,
// maintenance).
//
// A page incident is one incident on one page, on one or more of its
// services, with one stable id for all its updates. It is kept in bbolt with
// the sitrep incidents behind it, and every update of it is rendered by its
// page kind (a Renderer) when the event that caused it is recorded, then
// queued in the outbox for each of its services, in that event's
// transaction: the page hears of it exactly as a chat room would (retries,
// backoff, Retry-After, dead letters, rate limits), never from a request
// handler. Each service is its own outbox destination, so its updates are
// delivered in order, and "resolved" is always the last. Every update is
// also an event on the incident's timeline ("StatusHub public/api →
// identified, down: index rebuilt"), which its rooms hear of.
//
// The automation follows StatusHub's and Uptrends' guides: a CRITICAL alert
// opens a page incident investigating, its services down; a WARNING,
// degraded; an acknowledgement makes it identified; the recovery makes it
// monitoring and up, and then resolved with the closing comment when the
// route closes automatically. A route's wait holds the publication back (in
// bbolt, so it survives a restart): an alert that recovers within it never
// reaches the page. With combine, alerts on the same services share one
// page incident, which recovers with the last of them.
package statuspage

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/outbox"
	"github.com/sitrep/sitrep/routing"
	"github.com/sitrep/sitrep/storage"
	"github.com/sitrep/sitrep/timeline"
)

// Adapter is the Origin.Adapter of the events the engine records.
const Adapter = "statuspage"

// Fields of a status page event (timeline.KindStatusPage) or of a
// resolution that names what it does to the incident's pages.
const (
	FieldPage   = "status_page.page"   // only this page's incidents (default: all the incident's)
	FieldState  = "status_page.state"  // the new state
	FieldStatus = "status_page.status" // the new status
	fieldWait   = "status_page.wait"   // a held-back publication that is due (its key, hex)
	// Fields of a page's outbox entry (adapters.Message.Fields).
	fieldPageIncident = "page_incident" // its id on the page
	fieldOrigin       = "origin_room"   // the room it was opened from, if any
)

// roomPrefix starts the outbox destination of a page's service.
const roomPrefix = "statuspage:"

// Room is the outbox destination of a page's service ("" for a page without
// services).
func Room(page, service string) string {
	if service == "" {
		return roomPrefix + page
	}
	return roomPrefix + page + "/" + service
}

// ParseRoom reads a destination Room made; ok is false for any other name.
func ParseRoom(name string) (page, service string, ok bool) {
	rest, ok := strings.CutPrefix(name, roomPrefix)
	if !ok || rest == "" {
		return "", "", false
	}
	page, service, _ = strings.Cut(rest, "/")
	return page, service, true
}

// Page is a configured status page as the engine sees it.
type Page struct {
	Name     string
	Kind     string
	Title    string   // the kind's name as people write it: "StatusHub"
	Services []string // sorted; nil for a kind without services
	Monitor  bool     // an alert reaches it only with a monitor_name (StatusCast)
}

// services are the page's destinations: its services, or "" alone.
func (p Page) services(want []string) []string {
	if p.Services == nil {
		return []string{""}
	}
	if len(want) > 0 {
		return slices.Clone(want)
	}
	return slices.Clone(p.Services)
}

// Options configure an Engine.
type Options struct {
	DB *storage.DB
	// Page returns the page named name; Pages lists them, sorted by name.
	Page  func(name string) (Page, bool)
	Pages func() []Page
	// Render returns a page kind's Renderer.
	Render func(kind string) (Renderer, bool)
	// Ingest and Act are the timeline's: an incident opened from chat is an
	// alert like any other, and held-back publications and refusals are
	// recorded on its timeline.
	Ingest func(ctx context.Context, alerts []timeline.Alert) ([]timeline.Result, error)
	Act    func(ctx context.Context, a timeline.Action) (timeline.Result, error)
	// Notify wakes outbox destinations after a commit that queued for them.
	Notify func(rooms ...string)
	// DefaultPage is the page /incident commands use without --page when
	// there is more than one.
	DefaultPage string
	// Admins decides who may change status pages from chat; nil: everyone.
	Admins func(room string, in adapters.Inbound) bool
	// Location is the time zone a room's times are read in (its team's); nil: UTC.
	Location func(room string) *time.Location
	Now      func() time.Time
	Logger   *slog.Logger
}

// Engine publishes incidents on status pages.
type Engine struct {
	opts Options
	log  *slog.Logger

	mu       sync.Mutex
	opening  map[string]OpenRequest // entity_id → what /incident open asked, while its alert is ingested
	wake     chan struct{}
	refusals chan outbox.DeadEntry
}

// New returns an Engine.
func New(opts Options) *Engine {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Notify == nil {
		opts.Notify = func(...string) {}
	}
	if opts.Page == nil {
		opts.Page = func(string) (Page, bool) { return Page{}, false }
	}
	if opts.Pages == nil {
		opts.Pages = func() []Page { return nil }
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Engine{opts: opts, log: log, opening: map[string]OpenRequest{}, wake: make(chan struct{}, 1),
		refusals: make(chan outbox.DeadEntry, 256)}
}

// errNothingDue aborts the recording of a held-back publication that is no
// longer pending (its alert recovered in the meantime).
var errNothingDue = errors.New("publication no longer pending")

// Dispatch runs inside the transaction that records ev on inc, after
// fan-out, with q bound to that transaction and targets the status pages
// routing chose for a new incident. It queues the page updates ev leads to
// and returns them as follow-up events (or, for a status page event, as
// ev's own text) with the destinations to wake.
func (e *Engine) Dispatch(tx *bolt.Tx, q *outbox.Queue, inc *timeline.Incident, ev *timeline.Event, targets []routing.PageTarget) (timeline.Dispatched, error) {
	if ev.Kind == timeline.KindRepeated || (ev.Origin.Adapter == Adapter && ev.Fields[fieldWait] == "") {
		return timeline.Dispatched{}, nil
	}
	d := &dispatch{e: e, b: bucket(tx), q: q, inc: inc, ev: ev, now: e.opts.Now().UTC()}
	var err error
	switch ev.Kind {
	case timeline.KindTriggered:
		err = d.triggered(targets)
	case timeline.KindUpdated:
		err = d.updated()
	case timeline.KindAcknowledged:
		err = d.acknowledged()
	case timeline.KindResolved:
		err = d.resolved()
	case timeline.KindStatusPage:
		if ev.Fields[fieldWait] != "" {
			err = d.due(ev.Fields[fieldWait])
		} else {
			err = d.manual()
		}
	}
	if err != nil {
		return timeline.Dispatched{}, err
	}
	if ev.Kind == timeline.KindStatusPage {
		ev.Text = strings.Join(d.lines, "; ")
		d.out.Follow = nil
	}
	return d.out, nil
}

// dispatch is one Dispatch call.
type dispatch struct {
	e     *Engine
	b     *bolt.Bucket
	q     *outbox.Queue
	inc   *timeline.Incident
	ev    *timeline.Event
	now   time.Time
	out   timeline.Dispatched
	lines []string // what each page update said, for a status page event's text
}

func (d *dispatch) links() (links, error) { return getLinks(d.b, d.inc.ID) }

// triggered opens page incidents for a new incident: the one /incident open
// asked for, or the routes' status_page targets.
func (d *dispatch) triggered(targets []routing.PageTarget) error {
	if req, ok := d.e.opened(d.inc.EntityID); ok {
		return d.openManual(req)
	}
	status := statusOf(d.ev.Fields)
	for i, t := range targets {
		pg, ok := d.e.opts.Page(t.Page)
		if !ok {
			d.e.log.Warn("route publishes on a status page that is gone", "rule", t.Rule, "page", t.Page)
			continue
		}
		if pg.Monitor && t.MonitorName == "" {
			continue // monitor_name named a field the alert does not have: it does not reach the page
		}
		if t.Wait > 0 {
			if err := d.hold(i, t, status); err != nil {
				return err
			}
			continue
		}
		if err := d.publish(pg, t, d.ev.Time, status); err != nil {
			return err
		}
	}
	return nil
}

// statusOf is the status an alert's message type gives its services.
func statusOf(fields map[string]string) Status {
	if strings.EqualFold(fields[timeline.FieldMessageType], timeline.MsgWarning) {
		return Degraded
	}
	return Down
}

// hold keeps target's publication back for its wait.
func (d *dispatch) hold(i int, t routing.PageTarget, status Status) error {
	due := d.now.Add(t.Wait)
	k := waitKey(due, d.inc.ID, i)
	if err := putJSON(d.b, k, Pending{Incident: d.inc.ID, Target: t, Start: d.ev.Time, Status: status, Due: due}); err != nil {
		return err
	}
	l, err := d.links()
	if err != nil {
		return err
	}
	l.Waiting = append(l.Waiting, k)
	d.e.poke()
	return putLinks(d.b, d.inc.ID, l)
}

// due publishes a held-back publication whose wait is over.
func (d *dispatch) due(hexKey string) error {
	k, ok := unhex(hexKey)
	if !ok {
		return errNothingDue
	}
	var p Pending
	found, err := getJSON(d.b, k, &p)
	if err != nil {
		return err
	}
	if !found || p.Incident != d.inc.ID || !d.inc.Open() {
		return errNothingDue
	}
	if err := forgetWait(d.b, d.inc.ID, k); err != nil {
		return err
	}
	pg, ok := d.e.opts.Page(p.Target.Page)
	if !ok {
		return errNothingDue
	}
	return d.publish(pg, p.Target, p.Start, p.Status)
}

// publish opens a page incident for t on pg (or, with combine, joins the
// open one on the same services).
func (d *dispatch) publish(pg Page, t routing.PageTarget, start time.Time, status Status) error {
	services := pg.services(t.Services)
	if t.Combine {
		ck := combineKey(pg.Name, services)
		if v := d.b.Get(ck); v != nil {
			p, found, err := getPage(d.b, storage.ParseU64(v))
			if err != nil {
				return err
			}
			if found && p.Open() {
				return d.join(&p)
			}
		}
	}
	seq, err := d.b.NextSequence()
	if err != nil {
		return fmt.Errorf("next page incident: %w", err)
	}
	p := &PageIncident{
		Key: seq, Page: pg.Name, Kind: pg.Kind, Services: services,
		Title: d.inc.Title, Description: d.inc.Fields[timeline.FieldStateMessage],
		State: Investigating, Status: status, Start: start,
		Silent: t.Silent, Draft: t.Publish == routing.PublishDraft, Combine: t.Combine,
		AutoClose: t.AutoClose, ClosingComment: t.ClosingComment,
		MonitorName: t.MonitorName, EntityState: d.inc.Fields[timeline.FieldEntityState],
		Incidents: []uint64{d.inc.ID}, Firing: []uint64{d.inc.ID},
	}
	if d.inc.State == timeline.StateAcknowledged {
		// acknowledged within its wait: the page shows what an ack would have made it
		p.State = Identified
	}
	if t.Combine {
		if err := d.b.Put(combineKey(pg.Name, services), storage.U64(seq)); err != nil {
			return err
		}
	}
	if err := d.link(p.Key); err != nil {
		return err
	}
	return d.send(p, Opened, start)
}

// join adds the incident to a combined page incident, worsening its status
// (or reopening its investigation) when it says so.
func (d *dispatch) join(p *PageIncident) error {
	p.Incidents = append(p.Incidents, d.inc.ID)
	p.Firing = append(p.Firing, d.inc.ID)
	if err := d.link(p.Key); err != nil {
		return err
	}
	status := statusOf(d.ev.Fields)
	if !worse(status, p.Status) && p.State != Monitoring {
		d.out.Follow = append(d.out.Follow, d.event(fmt.Sprintf("%s: joined %s", d.e.Where(*p), p.ID())))
		return putPage(d.b, p)
	}
	if worse(status, p.Status) {
		p.Status = status
	}
	p.State = Investigating
	p.Description = "Also affected: " + d.inc.Title
	return d.send(p, Changed, d.ev.Time)
}

// link records that the incident is behind page incident k.
func (d *dispatch) link(k uint64) error {
	l, err := d.links()
	if err != nil {
		return err
	}
	if !slices.Contains(l.Pages, k) {
		l.Pages = append(l.Pages, k)
	}
	return putLinks(d.b, d.inc.ID, l)
}

// each calls fn for each open page incident the incident is behind (of
// page only, if not empty) and returns how many there were.
func (d *dispatch) each(page string, fn func(p *PageIncident) error) (int, error) {
	l, err := d.links()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, k := range l.Pages {
		p, found, err := getPage(d.b, k)
		if err != nil {
			return n, err
		}
		if !found || !p.Open() || p.Maintenance || (page != "" && p.Page != page) {
			continue
		}
		n++
		if err := fn(&p); err != nil {
			return n, err
		}
	}
	return n, nil
}

// updated follows a change of the alert's severity on the page.
func (d *dispatch) updated() error {
	status := statusOf(d.ev.Fields)
	_, err := d.each("", func(p *PageIncident) error {
		if p.Manual || p.Status == status || (p.Combine && !worse(status, p.Status)) || p.State == Monitoring {
			return nil
		}
		p.Status = status
		p.Description = d.inc.Fields[timeline.FieldStateMessage]
		return d.send(p, Changed, d.ev.Time)
	})
	if err != nil {
		return err
	}
	return d.restatusWaiting(status)
}

// restatusWaiting keeps held-back publications' status current.
func (d *dispatch) restatusWaiting(status Status) error {
	l, err := d.links()
	if err != nil {
		return err
	}
	for _, k := range l.Waiting {
		var p Pending
		found, err := getJSON(d.b, k, &p)
		if err != nil {
			return err
		}
		if !found {
			continue
		}
		p.Status = status
		if err := putJSON(d.b, k, p); err != nil {
			return err
		}
	}
	return nil
}

// acknowledged makes the incident's page incidents identified.
func (d *dispatch) acknowledged() error {
	_, err := d.each("", func(p *PageIncident) error {
		if p.Manual || p.State != Investigating {
			return nil
		}
		p.State = Identified
		p.Description = cmp.Or(d.ev.Text, "The cause has been identified.")
		return d.send(p, Changed, d.ev.Time)
	})
	return err
}

// resolved drops held-back publications (the alert recovered within its
// wait: flap suppression) and recovers or closes the page incidents.
func (d *dispatch) resolved() error {
	l, err := d.links()
	if err != nil {
		return err
	}
	for _, k := range l.Waiting {
		if err := d.b.Delete(k); err != nil {
			return err
		}
	}
	if len(l.Waiting) > 0 {
		d.e.log.Debug("incident recovered within its status page wait: not published", "incident", d.inc.ID, "held", len(l.Waiting))
		l.Waiting = nil
		if err := putLinks(d.b, d.inc.ID, l); err != nil {
			return err
		}
	}
	// Only a command's resolution names what it does to the pages; an
	// alert's fields are the source's, not instructions.
	var explicit bool
	var page string
	if _, alert := d.ev.Fields[timeline.FieldMessageType]; !alert {
		explicit, page = d.ev.Fields[FieldState] == string(Resolved), d.ev.Fields[FieldPage]
	}
	_, err = d.each(page, func(p *PageIncident) error {
		p.Firing = slices.DeleteFunc(p.Firing, func(id uint64) bool { return id == d.inc.ID })
		switch {
		case explicit || p.Manual:
			return d.close(p, cmp.Or(d.ev.Text, resolvedComment))
		case len(p.Firing) > 0:
			return putPage(d.b, p) // a combined incident recovers with its last alert
		}
		p.State, p.Status = Monitoring, Up
		p.Description = cmp.Or(d.ev.Text, "A fix has been applied and we are monitoring the results.")
		if err := d.send(p, Recovered, d.ev.Time); err != nil {
			return err
		}
		if p.AutoClose {
			return d.close(p, cmp.Or(p.ClosingComment, resolvedComment))
		}
		return nil
	})
	return err
}

// manual carries out /incident update on the incident's page incidents.
func (d *dispatch) manual() error {
	state, err := ParseState(d.ev.Fields[FieldState])
	if err != nil {
		return err
	}
	var status Status
	if s := d.ev.Fields[FieldStatus]; s != "" {
		if status, err = ParseStatus(s); err != nil {
			return err
		}
	}
	n, err := d.each(d.ev.Fields[FieldPage], func(p *PageIncident) error {
		if state == Resolved {
			return d.close(p, cmp.Or(d.ev.Text, resolvedComment))
		}
		p.State = state
		if status != "" {
			p.Status = status
		}
		p.Description = d.ev.Text
		return d.send(p, Changed, d.ev.Time)
	})
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNoPageIncident
	}
	return nil
}

// resolvedComment is a closing update's text when nobody gave one.
const resolvedComment = "This incident has been resolved."

// ErrNoPageIncident means an incident has no open page incident to update.
var ErrNoPageIncident = errors.New("no open status page incident")

// close resolves p: its last update.
func (d *dispatch) close(p *PageIncident, comment string) error {
	p.State, p.Status, p.Description = Resolved, Up, comment
	if p.Combine {
		ck := combineKey(p.Page, p.Services)
		if v := d.b.Get(ck); v != nil && storage.ParseU64(v) == p.Key {
			if err := d.b.Delete(ck); err != nil {
				return err
			}
		}
	}
	return d.send(p, Closed, d.ev.Time)
}

// send renders p's current state as an update for each of its services,
// queues each for its service, records what the service shows, and notes
// the update on the incident's timeline.
func (d *dispatch) send(p *PageIncident, change Change, at time.Time) error {
	render, ok := d.e.opts.Render(p.Kind)
	if !ok {
		return fmt.Errorf("status page %s: no renderer for kind %q", p.Page, p.Kind)
	}
	at = pageTime(at, d.now)
	if at.Before(p.Dated) {
		at = p.Dated // a source's clock behind another's: the update still comes after the last
	}
	p.Dated = at
	summary := d.summary(p)
	var failed []string
	for _, svc := range p.Services {
		u := Update{ID: p.ID(), Page: p.Page, Service: svc, Change: change, Title: p.Title, Description: p.Description,
			Start: at, End: p.End, Maintenance: p.Maintenance, State: p.State, Status: p.Status,
			Silent: p.Silent, Draft: p.Draft, MonitorName: p.MonitorName, EntityState: p.EntityState}
		body, err := render(u)
		if err != nil {
			failed = append(failed, err.Error())
			continue
		}
		if body == nil {
			continue
		}
		room := Room(p.Page, svc)
		msg := adapters.Message{IncidentID: d.inc.ID, EventID: d.ev.ID, Kind: timeline.KindStatusPage, Title: p.Title,
			Text: summary, Payload: body, Fields: map[string]string{fieldPageIncident: p.ID()}}
		if p.Origin != "" {
			msg.Fields[fieldOrigin] = p.Origin
		}
		if err := d.q.Enqueue(room, outbox.Item{Op: adapters.OpPost, NoDigest: true, Msg: msg}); err != nil {
			return fmt.Errorf("queue for %s: %w", room, err)
		}
		d.out.Wake = append(d.out.Wake, room)
		shown := Shown{Page: p.Page, Service: svc, Key: p.Key, Incident: d.inc.ID, Title: p.Title, State: p.State,
			Status: p.Status, Sent: d.now, Maint: p.Maintenance}
		if err := putJSON(d.b, lastKey(p.Page, svc), shown); err != nil {
			return err
		}
	}
	p.Updates++
	p.Updated = d.now
	if err := putPage(d.b, p); err != nil {
		return err
	}
	line := summary
	if len(failed) > 0 {
		line = fmt.Sprintf("%s: not sent: %s", d.e.Where(*p), strings.Join(failed, "; "))
	}
	d.lines = append(d.lines, line)
	d.out.Follow = append(d.out.Follow, d.event(line))
	return nil
}

// pageTime is t as a page takes it: the seed's pattern allows 2020–2029, so
// a time outside that (a source's clock gone wrong) is replaced by now.
func pageTime(t, now time.Time) time.Time {
	if y := t.UTC().Year(); y < 2020 || y > 2029 {
		return now
	}
	return t
}

// where names a page and its services as people read them: "StatusHub
// public/api,web" (the page kind's title, else kind, else the page alone).
func (e *Engine) where(page, kind string, services []string) string {
	title := kind
	if pg, ok := e.opts.Page(page); ok && pg.Title != "" {
		title = pg.Title
	}
	s := page
	if title != "" {
		s = title + " " + page
	}
	if svcs := strings.Join(slices.DeleteFunc(slices.Clone(services), func(s string) bool { return s == "" }), ","); svcs != "" {
		s += "/" + svcs
	}
	return s
}

// Where names p's page and services as people read them: "StatusHub public/api,web".
func (e *Engine) Where(p PageIncident) string { return e.where(p.Page, p.Kind, p.Services) }

// summary is the timeline's line for p's latest update.
func (d *dispatch) summary(p *PageIncident) string {
	s := d.e.Where(*p) + " → " + p.Shows()
	if p.Description != "" {
		s += ": " + p.Description
	}
	return s
}

// event is a follow-up event saying line.
func (d *dispatch) event(line string) timeline.Event {
	return timeline.Event{Kind: timeline.KindStatusPage, Text: line, Origin: timeline.Origin{Adapter: Adapter, Time: d.now}, Time: d.ev.Time}
}
