// Package fanout decides who hears of each timeline event and what they get.
// A new incident is routed: the rules pick its destinations (today rooms) and
// the incident remembers them, with the text a route gave its card in each.
// Every event of the incident then goes to each of its rooms except the one
// it came from, so nothing is echoed back to where it was typed; where the
// platform has threads it goes under the incident's card, and where the
// platform can edit, a state change also updates the card, in every room,
// the origin included. A repeated alert (the same message type and state
// message again) is kept on the timeline but not posted: a room hears of an
// alert when it says something new.
//
// A new incident's first message in a room of a team names who is on call
// for the team (Options.OnCall).
//
// A new incident, and its resolution, also put a line on the timeline of
// each team whose rooms it is in (package teams).
//
// Everything fanout decides is written through a Writer inside the event's
// own transaction, so an event is never committed without its deliveries.
package fanout

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/outbox"
	"github.com/sitrep/sitrep/render"
	"github.com/sitrep/sitrep/routing"
	"github.com/sitrep/sitrep/teams"
	"github.com/sitrep/sitrep/timeline"
)

// Writer takes what one event leads to, inside the event's transaction: its
// deliveries, and the lines it adds to team timelines.
type Writer interface {
	Enqueue(room string, it outbox.Item) error
	TeamLog(team string, e teams.Entry) error
}

// Policy is what one kind of destination hears and how.
type Policy struct {
	// Hears reports whether the destination is told of events of kind k;
	// nil hears every kind fanout posts.
	Hears func(k timeline.Kind) bool
	// NoDigest keeps its deliveries out of digests.
	NoDigest bool
}

func (p Policy) hears(k timeline.Kind) bool { return p.Hears == nil || p.Hears(k) }

// Options configure a Fanout.
type Options struct {
	// Router returns the routes in force.
	Router func() *routing.Router
	// Capabilities returns what the platform of a room can do; false for a
	// room it does not know (it then gets posts only).
	Capabilities func(room string) (adapters.Capabilities, bool)
	// PublicURL is the base of links to incidents (${{INCIDENT.url}}).
	PublicURL string
	// Rooms is the policy of room destinations; the zero Policy hears every event.
	Rooms Policy
	// TeamOf returns the team of a room ("" for none): an incident opened or
	// resolved in a team's rooms gets a line on the team's timeline.
	TeamOf func(room string) string
	// OnCall, if set, is the line a new incident's first message in room
	// ends with, naming who is on call for the room's team at the time
	// ("on call: bob"); "" adds none.
	OnCall func(room string, at time.Time) string
}

// Fanout turns committed-to-be events into outbox deliveries.
type Fanout struct{ opts Options }

// New returns a Fanout.
func New(opts Options) *Fanout {
	if opts.Capabilities == nil {
		opts.Capabilities = func(string) (adapters.Capabilities, bool) { return adapters.Capabilities{}, false }
	}
	return &Fanout{opts: opts}
}

// Dispatch runs inside the transaction that records ev on inc (a
// timeline.Dispatcher, given a Writer bound to that transaction). It may
// change inc: routing a new incident sets its fields, rooms and card texts.
// For a new incident it returns how routing decided (its status pages and
// escalation steps are other destinations' to act on); the zero Decision
// for other events.
func (f *Fanout) Dispatch(q Writer, inc *timeline.Incident, ev *timeline.Event) (routing.Decision, error) {
	if (ev.Kind == timeline.KindUpdated || ev.Kind == timeline.KindRepeated) && f.opts.Router != nil {
		// The further alert's fields replaced the incident's: the routes'
		// set values (a webhook's key, seed 000) hold for them too.
		inc.Fields = f.opts.Router().Route(ev.Fields, IncidentFields(inc, f.opts.PublicURL)).Fields
	}
	if ev.Kind == timeline.KindRepeated {
		return routing.Decision{}, nil
	}
	var d routing.Decision
	if ev.Kind == timeline.KindTriggered {
		d = f.route(inc, ev)
	}
	msg := render.Event(inc, ev)
	for _, room := range inc.Rooms {
		if err := f.room(q, room, inc, ev, msg); err != nil {
			return routing.Decision{}, fmt.Errorf("enqueue for room %s: %w", room, err)
		}
	}
	return d, f.teamLines(q, inc, ev)
}

// teamLines puts a line on the timeline of each team whose rooms the
// incident is in, when it opens or is resolved.
func (f *Fanout) teamLines(q Writer, inc *timeline.Incident, ev *timeline.Event) error {
	kind := teams.KindOpened
	switch {
	case f.opts.TeamOf == nil:
		return nil
	case ev.Kind == timeline.KindTriggered:
	case ev.Kind == timeline.KindResolved:
		kind = teams.KindResolved
	default:
		return nil
	}
	seen := map[string]bool{}
	for _, room := range inc.Rooms {
		team := f.opts.TeamOf(room)
		if team == "" || seen[team] {
			continue
		}
		seen[team] = true
		e := teams.Entry{Kind: kind, IncidentID: inc.ID, Origin: ev.Origin, Time: ev.Time,
			Text: fmt.Sprintf("#%d %s: %s", inc.ID, kind, inc.Title)}
		if err := q.TeamLog(team, e); err != nil {
			return fmt.Errorf("team %s: %w", team, err)
		}
	}
	return nil
}

// route picks a new incident's rooms and keeps the text each route gave its
// card; an incident opened from a room (/incident open) is in that room too.
func (f *Fanout) route(inc *timeline.Incident, ev *timeline.Event) routing.Decision {
	if ev.Origin.Room != "" && !inc.HasRoom(ev.Origin.Room) {
		inc.Rooms = append(inc.Rooms, ev.Origin.Room)
	}
	if f.opts.Router == nil {
		return routing.Decision{}
	}
	d := f.opts.Router().Route(ev.Fields, IncidentFields(inc, f.opts.PublicURL))
	inc.Fields = d.Fields
	for _, dest := range d.Destinations {
		if !inc.HasRoom(dest.Room) {
			inc.Rooms = append(inc.Rooms, dest.Room)
		}
		if dest.Message != "" {
			if inc.Messages == nil {
				inc.Messages = map[string]string{}
			}
			if _, set := inc.Messages[dest.Room]; !set {
				inc.Messages[dest.Room] = dest.Message
			}
		}
	}
	return d
}

// room enqueues what one room gets of ev.
func (f *Fanout) room(q Writer, room string, inc *timeline.Incident, ev *timeline.Event, msg adapters.Message) error {
	pol := f.opts.Rooms
	if !pol.hears(ev.Kind) {
		return nil
	}
	caps, _ := f.opts.Capabilities(room)
	if ev.Kind == timeline.KindTriggered {
		if text := inc.Messages[room]; text != "" {
			msg.Text = text
		}
		if f.opts.OnCall != nil {
			if line := f.opts.OnCall(room, ev.Origin.Time); line != "" {
				msg.Text += "\n" + line
			}
		}
		return q.Enqueue(room, outbox.Item{Op: adapters.OpPost, Card: true, NoDigest: pol.NoDigest, Msg: msg})
	}
	if room != ev.Origin.Room {
		op := adapters.OpPost
		if caps.Threads {
			op = adapters.OpReply
		}
		if err := q.Enqueue(room, outbox.Item{Op: op, NoDigest: pol.NoDigest, Msg: msg}); err != nil {
			return err
		}
	}
	if changesCard(ev.Kind) && caps.Edit {
		card := render.Card(inc, inc.Messages[room])
		return q.Enqueue(room, outbox.Item{Op: adapters.OpUpdate, NoDigest: pol.NoDigest, Msg: card})
	}
	return nil
}

// changesCard reports whether an event of kind k changes what the incident's
// card shows (its state, colour and buttons).
func changesCard(k timeline.Kind) bool {
	return k == timeline.KindAcknowledged || k == timeline.KindResolved
}

// IncidentFields is what ${{INCIDENT.field}} templates can read.
func IncidentFields(inc *timeline.Incident, publicURL string) map[string]string {
	f := map[string]string{
		"id":        strconv.FormatUint(inc.ID, 10),
		"entity_id": inc.EntityID,
		"title":     inc.Title,
		"state":     string(inc.State),
	}
	if publicURL != "" {
		f["url"] = strings.TrimRight(publicURL, "/") + "/v1/incidents/" + f["id"]
	}
	return f
}
