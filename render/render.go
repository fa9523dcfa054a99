// Package render turns timeline events into the platform-neutral
// adapters.Message that rooms get: its text, colour, state, the fields shown
// and the buttons offered. It renders an incident's card (the message a room
// keeps updated in place) and the digest that collapses a backlog. Each
// adapter then turns a Message into its platform's format.
package render

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/secret"
	"github.com/sitrep/sitrep/timeline"
)

// Colours of the palette messages use (HipChat's, which the others map).
const (
	Red    = "red"
	Yellow = "yellow"
	Green  = "green"
	Purple = "purple"
	Gray   = "gray"
)

// Event turns a timeline event into the message rooms get.
func Event(inc *timeline.Incident, ev *timeline.Event) adapters.Message {
	m := adapters.Message{
		IncidentID: inc.ID,
		EventID:    ev.ID,
		Kind:       ev.Kind,
		State:      inc.State,
		Title:      inc.Title,
		User:       ev.Origin.User,
		Color:      StateColor(inc.State),
	}
	switch {
	case ev.Kind != timeline.KindTriggered && ev.Kind != timeline.KindUpdated:
		m.Fields = ShownFields(ev.Fields)
	case ev.Shown != nil:
		m.Fields = ev.Shown // AlertFields, computed before the writer took the alert
	default:
		m.Fields = alertFields(inc.Title, ShownFields(ev.Fields))
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
			m.Color = Yellow
		}
		verb := "triggered"
		if ev.Kind == timeline.KindUpdated {
			verb = "updated"
		}
		m.Text = ref + " " + verb + " " + alertLine(mt, inc.Title, ev.Text)
		if ev.Kind == timeline.KindTriggered {
			m.Actions = Actions(inc.State)
		}
	case timeline.KindAcknowledged:
		m.Text = fmt.Sprintf("%s acknowledged by %s", ref, who)
	case timeline.KindResolved:
		m.Text = fmt.Sprintf("%s resolved by %s", ref, who)
	case timeline.KindChat:
		m.Color = Gray
		m.Text = fmt.Sprintf("%s %s: %s", ref, who, ev.Text)
		return m
	case timeline.KindEscalated:
		m.Text = fmt.Sprintf("%s escalated: %s", ref, inc.Title)
	case timeline.KindNote, timeline.KindCommand:
		m.Color = Purple
		m.Text = fmt.Sprintf("%s note from %s", ref, who)
	case timeline.KindStatusPage:
		m.Color, m.Fields = Purple, nil // its fields say what the command asked; its text says what the page got
		m.Text = fmt.Sprintf("%s status page: %s", ref, ev.Text)
		if ev.Origin.User != "" {
			m.Text += " (by " + ev.Origin.User + ")"
		}
		return m
	}
	if ev.Text != "" && ev.Kind != timeline.KindTriggered && ev.Kind != timeline.KindUpdated {
		m.Text += ": " + ev.Text
	}
	return m
}

// Card is the incident's card as it stands now: the alert that opened it,
// with the incident's current state, colour and buttons. Once acknowledged or
// resolved, its text leads with that and who did it ("#7 acknowledged by
// alice", then the alert on the next line), and its User is that person.
// text, if not empty, is the text a route gave the card in that room (a
// route's message:), which every refresh keeps, after the state line.
func Card(inc *timeline.Incident, text string) adapters.Message {
	opening := timeline.Event{
		ID:     inc.FirstEventID,
		Kind:   timeline.KindTriggered,
		Text:   inc.Fields[timeline.FieldStateMessage],
		Fields: inc.Fields,
	}
	m := Event(inc, &opening)
	if text != "" {
		m.Text = text
	}
	if inc.State == timeline.StateTriggered {
		return m
	}
	m.Color = StateColor(inc.State)
	who := ChangedBy(inc)
	m.User = who
	line := "#" + strconv.FormatUint(inc.ID, 10) + " " + string(inc.State)
	if who != "" {
		line += " by " + who
	}
	if text == "" {
		text = alertLine(strings.ToUpper(inc.Fields[timeline.FieldMessageType]), inc.Title, opening.Text)
	}
	m.Text = line + "\n" + text
	return m
}

// ChangedBy is who put the incident in its current state: who acknowledged
// or resolved it; "" while it is triggered or when nobody is on record.
func ChangedBy(inc *timeline.Incident) string {
	switch inc.State {
	case timeline.StateAcknowledged:
		return inc.AcknowledgedBy
	case timeline.StateResolved:
		return inc.ResolvedBy
	}
	return ""
}

// alertLine is an alert in one line: "CRITICAL: db-1 down — 97% used on /var"
// (the state message only when it says more than the title).
func alertLine(messageType, title, stateMessage string) string {
	s := messageType + ": " + title
	if messageType == "" {
		s = title
	}
	if stateMessage != "" && stateMessage != title {
		s += " — " + stateMessage
	}
	return s
}

// alertFields is the field list of an alert's message: the shown fields
// less those its title and sentence already say (message type, display name,
// state message, the entity state when it is the message type, and the
// entity ID when it is the title), so no fact is printed twice.
// AlertFields is what an alert's card lists of its fields: those rooms may
// see (ShownFields) but for what its title and sentence already say. It
// depends on the fields alone, so the ingest path computes it before the
// store's single writer takes the alert (timeline.Options.Shown).
func AlertFields(fields map[string]string) map[string]string {
	return alertFields(timeline.TitleOf(fields, fields[timeline.FieldEntityID]), ShownFields(fields))
}

func alertFields(title string, f map[string]string) map[string]string {
	said := func(k, v string) bool {
		switch k {
		case timeline.FieldMessageType, timeline.FieldEntityDisplayName, timeline.FieldStateMessage:
			return true
		case timeline.FieldEntityState:
			return strings.EqualFold(v, f[timeline.FieldMessageType])
		case timeline.FieldEntityID:
			return v == title
		}
		return false
	}
	n := 0
	for k, v := range f {
		if said(k, v) {
			n++
		}
	}
	if n == 0 {
		return f
	}
	out := make(map[string]string, len(f)-n)
	for k, v := range f {
		if !said(k, v) {
			out[k] = v
		}
	}
	return out
}

// Actions are the buttons an incident's card offers in state s: acknowledge
// and resolve while triggered, resolve once acknowledged, none once resolved.
func Actions(s timeline.State) []adapters.Verb {
	switch s {
	case timeline.StateTriggered:
		return []adapters.Verb{adapters.VerbAck, adapters.VerbResolve}
	case timeline.StateAcknowledged:
		return []adapters.Verb{adapters.VerbResolve}
	}
	return nil
}

// StateColor is the colour of an incident in state s.
func StateColor(s timeline.State) string {
	switch s {
	case timeline.StateAcknowledged:
		return Yellow
	case timeline.StateResolved:
		return Green
	default:
		return Red
	}
}

// ShownFields is the event's fields as rooms get them: every field but the
// secret-looking ones, by name or by value (a route may set an auth_token or
// a webhook URL), which never leave sitrep. Without such a field it is the event's own map, which nobody
// writes to.
func ShownFields(f map[string]string) map[string]string {
	secrets := 0
	for k, v := range f {
		if v != "" && secret.Hides(k, v) {
			secrets++
		}
	}
	if secrets == 0 {
		return f
	}
	out := make(map[string]string, len(f)-secrets)
	for k, v := range f {
		if !secret.Hides(k, v) {
			out[k] = v
		}
	}
	return out
}
