package bot

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/commands"
	"github.com/sitrep/sitrep/outbox"
	"github.com/sitrep/sitrep/routing"
	"github.com/sitrep/sitrep/secret"
	"github.com/sitrep/sitrep/timeline"
)

// dispatch runs inside the event's transaction. A new incident is routed:
// the rules pick its rooms and the incident remembers them. Every event of the
// incident is then enqueued for each of its rooms except the one it came from,
// so nothing is echoed back to where it was typed. A repeated alert (the same
// message type and state message again) is kept on the timeline but not
// posted: a room hears of an alert when it says something new.
func (b *Bot) dispatch(tx *bolt.Tx, inc *timeline.Incident, ev *timeline.Event) error {
	if ev.Kind == timeline.KindRepeated {
		return nil
	}
	var custom map[string]string
	if ev.Kind == timeline.KindTriggered {
		d := b.router.Load().Route(ev.Fields, incidentFields(inc, b.cfg.PublicURL))
		inc.Fields = d.Fields
		for _, t := range d.Targets {
			if !inc.HasRoom(t.Room) {
				inc.Rooms = append(inc.Rooms, t.Room)
			}
			if t.Message != "" {
				if custom == nil {
					custom = map[string]string{}
				}
				custom[t.Room] = t.Message
			}
		}
	}
	now := b.now()
	rendered := Render(inc, ev)
	for _, room := range inc.Rooms {
		if room == ev.Origin.Room {
			continue
		}
		msg := rendered
		if c, ok := custom[room]; ok {
			msg.Text = c
		}
		if _, err := outbox.Enqueue(tx, room, msg, now); err != nil {
			return fmt.Errorf("enqueue for room %s: %w", room, err)
		}
	}
	return nil
}

// afterCommit runs once an event is durable: wake the outbox for the
// incident's rooms and refresh, in place, the messages that show its state.
func (b *Bot) afterCommit(r timeline.Result) {
	b.events.WithLabelValues(string(r.Event.Kind)).Inc()
	b.outbox.Notify(r.Incident.Rooms...)
	switch r.Event.Kind {
	case timeline.KindAcknowledged, timeline.KindResolved:
		b.refreshInPlace(r)
	}
}

// refreshInPlace updates the first message each room got for the incident so
// its state badge is current, including in the room the action came from.
// It is cosmetic: the event itself reaches the rooms through the outbox. If
// that first message is still on its way (an ack typed the moment the alert
// showed), it waits a little for the outbox to record it.
func (b *Bot) refreshInPlace(r timeline.Result) {
	for _, room := range r.Incident.Rooms {
		target, ok := b.resolveRoom(room)
		if !ok || !adapters.CanEdit(target.Chat) {
			continue
		}
		first := Render(&r.Incident, &timeline.Event{ID: r.Event.ID, Kind: timeline.KindTriggered, Text: r.Incident.Fields[timeline.FieldStateMessage], Fields: r.Incident.Fields})
		first.State = string(r.Incident.State)
		first.Color = stateColor(r.Incident.State)
		b.updates.Add(1)
		go func() {
			defer b.updates.Done()
			ref, ok := b.outbox.MessageRef(r.Incident.ID, room)
			for wait := 0; !ok && wait < refreshWaits; wait++ {
				time.Sleep(refreshPoll)
				ref, ok = b.outbox.MessageRef(r.Incident.ID, room)
			}
			if !ok {
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := target.Chat.Update(ctx, target.Room, ref, first); err != nil {
				b.log.Debug("in-place update failed", "room", room, "incident", r.Incident.ID, "err", err)
			}
		}()
	}
}

// How long refreshInPlace waits for an incident's first message to be sent.
const (
	refreshPoll  = 50 * time.Millisecond
	refreshWaits = 40
)

// Render turns a timeline event into the platform-neutral message rooms get.
func Render(inc *timeline.Incident, ev *timeline.Event) adapters.Message {
	m := adapters.Message{
		IncidentID: inc.ID,
		EventID:    ev.ID,
		Kind:       string(ev.Kind),
		State:      string(inc.State),
		Title:      inc.Title,
		User:       ev.Origin.User,
		Color:      stateColor(inc.State),
		Fields:     shownFields(ev.Fields),
	}
	who := ev.Origin.User
	if who == "" {
		who = ev.Origin.Adapter
	}
	ref := "#" + strconv.FormatUint(inc.ID, 10)
	switch ev.Kind {
	case timeline.KindTriggered, timeline.KindUpdated:
		mt := strings.ToUpper(ev.Fields[timeline.FieldMessageType])
		if mt == timeline.MsgWarning {
			m.Color = "yellow"
		}
		verb := "triggered"
		if ev.Kind == timeline.KindUpdated {
			verb = "updated"
		}
		m.Text = fmt.Sprintf("%s %s %s: %s", ref, verb, mt, inc.Title)
		if ev.Text != "" {
			m.Text += " — " + ev.Text
		}
	case timeline.KindAcknowledged:
		m.Text = fmt.Sprintf("%s acknowledged by %s", ref, who)
	case timeline.KindResolved:
		m.Text = fmt.Sprintf("%s resolved by %s", ref, who)
	case timeline.KindChat:
		m.Color = "gray"
		m.Text = fmt.Sprintf("%s %s: %s", ref, who, ev.Text)
		return m
	case timeline.KindNote, timeline.KindCommand:
		m.Color = "purple"
		m.Text = fmt.Sprintf("%s note from %s", ref, who)
	}
	if ev.Text != "" && ev.Kind != timeline.KindTriggered && ev.Kind != timeline.KindUpdated {
		m.Text += ": " + ev.Text
	}
	return m
}

func stateColor(s timeline.State) string {
	switch s {
	case timeline.StateAcknowledged:
		return "yellow"
	case timeline.StateResolved:
		return "green"
	default:
		return "red"
	}
}

// shownFields is the event's fields as rooms get them: every field but the
// secret-looking ones (a route may set an auth_token), which never leave
// sitrep. Without such a field it is the event's own map, which nobody
// writes to.
func shownFields(f map[string]string) map[string]string {
	secrets := 0
	for k, v := range f {
		if v != "" && secret.LooksSecret(k) {
			secrets++
		}
	}
	if secrets == 0 {
		return f
	}
	out := make(map[string]string, len(f)-secrets)
	for k, v := range f {
		if !secret.LooksSecret(k) {
			out[k] = v
		}
	}
	return out
}

// incidentFields is what ${{INCIDENT.field}} templates can read.
func incidentFields(inc *timeline.Incident, publicURL string) map[string]string {
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

// routeCommand answers "/route test key=value ..." typed in a room.
func (b *Bot) routeCommand(_ context.Context, cmd commands.Command, _ adapters.Inbound) (string, error) {
	if cmd.Sub != "test" {
		return "usage: /route test key=value ...", nil
	}
	return b.router.Load().Explain(cmd.Args, nil).String(), nil
}

func (b *Bot) compile(rules []routing.Rule) (*routing.Router, error) {
	return routing.Compile(rules, routing.Options{RoomExists: b.rooms.Exists, DefaultRooms: []string{b.cfg.DefaultRoom}})
}
