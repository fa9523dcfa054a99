package statuspage

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sitrep/sitrep/outbox"
	"github.com/sitrep/sitrep/timeline"
)

// OpenRequest is a page incident opened by hand (/incident open).
type OpenRequest struct {
	Page        string // "": the only page, or the default one
	Services    []string
	Title       string
	Description string
	State       State  // default investigating
	Status      Status // default degraded
	Silent      bool
	Draft       bool
	Room        string // the sitrep room it was opened from
}

// MaintenanceRequest is a maintenance announced by hand (/incident maintenance).
type MaintenanceRequest struct {
	Page        string
	Services    []string
	Title       string
	Description string
	Start, End  time.Time
	Status      Status // default down
	Silent      bool
	Draft       bool
	Room        string
}

// UserError is a request that cannot be carried out as asked; its text is
// meant for the sender.
type UserError struct{ Msg string }

func (e *UserError) Error() string { return e.Msg }

func userErr(format string, args ...any) error { return &UserError{Msg: fmt.Sprintf(format, args...)} }

// page resolves a request's page: name, else the only page, else the default.
func (e *Engine) page(name string) (Page, error) {
	if name == "" {
		name = e.opts.DefaultPage
	}
	if name == "" {
		pages := e.opts.Pages()
		switch len(pages) {
		case 0:
			return Page{}, userErr("no status page is configured on this server")
		case 1:
			return pages[0], nil
		}
		return Page{}, userErr("which page? add --page NAME (%s)", strings.Join(pageNames(pages), ", "))
	}
	pg, ok := e.opts.Page(name)
	if !ok {
		return Page{}, userErr("unknown status page %q (%s)", name, strings.Join(pageNames(e.opts.Pages()), ", "))
	}
	return pg, nil
}

func pageNames(pages []Page) []string {
	out := make([]string, len(pages))
	for i, p := range pages {
		out[i] = p.Name
	}
	return out
}

// checkServices checks want against pg's services.
func checkServices(pg Page, want []string) error {
	if len(want) > 0 && pg.Services == nil {
		return userErr("status page %s has no services", pg.Name)
	}
	for i, s := range want {
		if !slices.Contains(pg.Services, s) {
			return userErr("unknown service %q of status page %s (%s)", s, pg.Name, strings.Join(pg.Services, ", "))
		}
		if slices.Index(want, s) < i {
			return userErr("service %q is listed twice", s)
		}
	}
	return nil
}

// opened returns what /incident open asked for the incident of entity, while
// its alert is being ingested.
func (e *Engine) opened(entity string) (OpenRequest, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	req, ok := e.opening[entity]
	return req, ok
}

// Open opens an incident from chat: a sitrep incident with a timeline and
// rooms like any other (an alert from the room, routed as alerts are, and
// posted in the room it was opened from), and its page incident.
func (e *Engine) Open(ctx context.Context, req OpenRequest, origin timeline.Origin) (timeline.Result, error) {
	pg, err := e.page(req.Page)
	if err != nil {
		return timeline.Result{}, err
	}
	if err := checkServices(pg, req.Services); err != nil {
		return timeline.Result{}, err
	}
	if strings.TrimSpace(req.Title) == "" {
		return timeline.Result{}, userErr("a title is needed")
	}
	req.Page = pg.Name
	if req.State == "" {
		req.State = Investigating
	}
	if req.State == Resolved {
		return timeline.Result{}, userErr("a status page incident cannot open resolved")
	}
	if req.Status == "" {
		req.Status = Degraded
	}
	mt := timeline.MsgCritical
	if req.Status != Down {
		mt = timeline.MsgWarning
	}
	entity := "incident/" + pg.Name + "/" + randomHex(8)
	fields := map[string]string{
		timeline.FieldEntityID:          entity,
		timeline.FieldMessageType:       mt,
		timeline.FieldEntityDisplayName: req.Title,
		"monitoring_tool":               "sitrep",
	}
	timeline.SetEntityState(fields, mt)
	if req.Description != "" {
		fields[timeline.FieldStateMessage] = req.Description
	}
	e.mu.Lock()
	e.opening[entity] = req
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.opening, entity)
		e.mu.Unlock()
	}()
	res, err := e.opts.Ingest(ctx, []timeline.Alert{{MessageType: mt, EntityID: entity, Fields: fields, Time: origin.Time, Origin: origin}})
	if err != nil {
		return timeline.Result{}, err
	}
	return res[0], nil
}

// openManual opens the page incident /incident open asked for.
func (d *dispatch) openManual(req OpenRequest) error {
	pg, ok := d.e.opts.Page(req.Page)
	if !ok {
		return userErr("unknown status page %q", req.Page)
	}
	seq, err := d.b.NextSequence()
	if err != nil {
		return fmt.Errorf("next page incident: %w", err)
	}
	p := &PageIncident{
		Key: seq, Page: pg.Name, Kind: pg.Kind, Services: pg.services(req.Services), Manual: true,
		Title: req.Title, Description: req.Description, State: req.State, Status: req.Status, Start: d.ev.Time,
		Silent: req.Silent, Draft: req.Draft, Incidents: []uint64{d.inc.ID}, Firing: []uint64{d.inc.ID}, Origin: req.Room,
	}
	if err := d.link(p.Key); err != nil {
		return err
	}
	return d.send(p, Opened, d.ev.Time)
}

// Update records a new state (and status, and message) of incident id's open
// page incidents (of page only, if set), on its timeline and its pages.
func (e *Engine) Update(ctx context.Context, id uint64, state State, status Status, page, msg string, origin timeline.Origin) (timeline.Result, error) {
	if state == Resolved {
		return e.Resolve(ctx, id, page, msg, origin)
	}
	if err := e.hasOpen(id, page); err != nil {
		return timeline.Result{}, err
	}
	fields := map[string]string{FieldState: string(state)}
	if status != "" {
		fields[FieldStatus] = string(status)
	}
	if page != "" {
		fields[FieldPage] = page
	}
	return e.opts.Act(ctx, timeline.Action{IncidentID: id, Kind: timeline.KindStatusPage, Text: msg, Fields: fields, Origin: origin})
}

// Resolve resolves incident id and closes its open page incidents (of page
// only, if set) with comment; an incident already resolved whose page
// incident stayed open (monitoring, no auto_close) has the page incident
// closed.
func (e *Engine) Resolve(ctx context.Context, id uint64, page, comment string, origin timeline.Origin) (timeline.Result, error) {
	if err := e.hasOpen(id, page); err != nil {
		return timeline.Result{}, err
	}
	fields := map[string]string{FieldState: string(Resolved)}
	if page != "" {
		fields[FieldPage] = page
	}
	res, err := e.opts.Act(ctx, timeline.Action{IncidentID: id, Kind: timeline.KindResolved, Text: comment, Fields: fields, Origin: origin})
	var se *timeline.StateError
	if errors.As(err, &se) {
		return e.opts.Act(ctx, timeline.Action{IncidentID: id, Kind: timeline.KindStatusPage, Text: comment, Fields: fields, Origin: origin})
	}
	return res, err
}

// hasOpen checks that incident id has an open page incident (on page, if set).
func (e *Engine) hasOpen(id uint64, page string) error {
	list, err := e.Of(id)
	if err != nil {
		return err
	}
	known, found := false, false
	for _, p := range list {
		if !p.Maintenance && (page == "" || p.Page == page) {
			known = true
			found = found || p.Open()
		}
	}
	switch {
	case !known:
		return userErr("#%d has no status page incident%s", id, onPage(page))
	case !found:
		return userErr("#%d is already resolved on its status page%s", id, onPage(page))
	}
	return nil
}

func onPage(page string) string {
	if page == "" {
		return ""
	}
	return " " + page
}

// Maintenance announces a maintenance on a page's services.
func (e *Engine) Maintenance(ctx context.Context, req MaintenanceRequest, origin timeline.Origin) (PageIncident, error) {
	pg, err := e.page(req.Page)
	if err != nil {
		return PageIncident{}, err
	}
	if err := checkServices(pg, req.Services); err != nil {
		return PageIncident{}, err
	}
	now := e.opts.Now().UTC()
	switch {
	case strings.TrimSpace(req.Title) == "":
		return PageIncident{}, userErr("a title is needed")
	case !req.End.After(req.Start):
		return PageIncident{}, userErr("--end %s is not after --start %s", stamp(req.End), stamp(req.Start))
	case req.Start.Before(now.Add(-24 * time.Hour)):
		return PageIncident{}, userErr("--start %s is more than a day ago", stamp(req.Start))
	case req.Start.Year() < 2020 || req.End.Year() > 2029:
		return PageIncident{}, userErr("status pages take times in 2020–2029 only")
	}
	if req.Status == "" {
		req.Status = Down
	}
	var p PageIncident
	var d *dispatch
	err = e.opts.DB.Update(ctx, func(tx *bolt.Tx) error {
		d = &dispatch{e: e, b: bucket(tx), q: outbox.TxQueue(tx, now), inc: &timeline.Incident{},
			ev: &timeline.Event{Time: req.Start}, now: now}
		seq, err := d.b.NextSequence()
		if err != nil {
			return err
		}
		p = PageIncident{Key: seq, Page: pg.Name, Kind: pg.Kind, Services: pg.services(req.Services), Maintenance: true,
			Manual: true, Title: req.Title, Description: req.Description, Status: req.Status, Start: req.Start, End: req.End,
			Silent: req.Silent, Draft: req.Draft, Origin: req.Room}
		return d.send(&p, Scheduled, req.Start)
	})
	if err != nil {
		return PageIncident{}, err
	}
	e.opts.Notify(d.out.Wake...)
	return p, nil
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func unhex(s string) ([]byte, bool) {
	b, err := hex.DecodeString(s)
	return b, err == nil
}

// List returns the open page incidents and the maintenances yet to end,
// newest first, at most limit of them.
func (e *Engine) List(limit int) ([]PageIncident, error) {
	now := e.opts.Now()
	var out []PageIncident
	err := e.opts.DB.View(func(tx *bolt.Tx) error {
		c := bucket(tx).Cursor()
		after := slices.Clone(prefixIncident)
		after[len(after)-1]++
		var k, v []byte
		if k, _ = c.Seek(after); k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
		for ; k != nil && bytes.HasPrefix(k, prefixIncident) && len(out) < limit; k, v = c.Prev() {
			var p PageIncident
			if err := json.Unmarshal(v, &p); err != nil {
				return fmt.Errorf("decode page incident: %w", err)
			}
			if (p.Maintenance && p.End.After(now)) || (!p.Maintenance && p.State != Resolved) {
				out = append(out, p)
			}
		}
		return nil
	})
	return out, err
}

// Shown lists what sitrep last sent each service of each page, by page and
// service; a service that was never sent anything is listed with no Sent.
func (e *Engine) Shown() ([]Shown, error) {
	var out []Shown
	err := e.opts.DB.View(func(tx *bolt.Tx) error {
		b := bucket(tx)
		for _, pg := range e.opts.Pages() {
			for _, svc := range pg.services(nil) {
				s := Shown{Page: pg.Name, Service: svc}
				if _, err := getJSON(b, lastKey(pg.Name, svc), &s); err != nil {
					return err
				}
				out = append(out, s)
			}
		}
		return nil
	})
	return out, err
}

// Of lists the page incidents incident is behind, oldest first.
func (e *Engine) Of(incident uint64) ([]PageIncident, error) {
	var out []PageIncident
	err := e.opts.DB.View(func(tx *bolt.Tx) error {
		b := bucket(tx)
		l, err := getLinks(b, incident)
		if err != nil {
			return err
		}
		for _, k := range l.Pages {
			p, ok, err := getPage(b, k)
			if err != nil {
				return err
			}
			if ok {
				out = append(out, p)
			}
		}
		return nil
	})
	return out, err
}
