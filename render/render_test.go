package render_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/render"
	"github.com/sitrep/sitrep/timeline"
)

func incident(state timeline.State) *timeline.Incident {
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	inc := &timeline.Incident{ID: 7, EntityID: "db-1", Title: "db-1 disk full", State: state, FirstEventID: 1, OpenedAt: at,
		Fields: map[string]string{
			timeline.FieldMessageType: "CRITICAL", timeline.FieldEntityID: "db-1", timeline.FieldEntityDisplayName: "db-1 disk full",
			timeline.FieldStateMessage: "97% used on /var", timeline.FieldEntityState: "CRITICAL", "host": "db-1.example.com",
		}}
	switch state {
	case timeline.StateAcknowledged:
		inc.AcknowledgedAt, inc.AcknowledgedBy = &at, "alice"
	case timeline.StateResolved:
		inc.AcknowledgedAt, inc.AcknowledgedBy = &at, "alice"
		inc.ResolvedAt, inc.ResolvedBy = &at, "bob"
	}
	return inc
}

func TestCardShowsCurrentStateAndWhoChangedIt(t *testing.T) {
	for _, tc := range []struct {
		name    string
		state   timeline.State
		route   string // the route's message for the room
		text    string
		user    string
		color   string
		actions []adapters.Verb
	}{
		{"triggered", timeline.StateTriggered, "", "#7 triggered CRITICAL: db-1 disk full — 97% used on /var", "", render.Red,
			[]adapters.Verb{adapters.VerbAck, adapters.VerbResolve}},
		{"acknowledged", timeline.StateAcknowledged, "", "#7 acknowledged by alice\nCRITICAL: db-1 disk full — 97% used on /var", "alice", render.Yellow,
			[]adapters.Verb{adapters.VerbResolve}},
		{"resolved", timeline.StateResolved, "", "#7 resolved by bob\nCRITICAL: db-1 disk full — 97% used on /var", "bob", render.Green, nil},
		{"a route's text is kept under the state", timeline.StateAcknowledged, "DB on fire: db-1", "#7 acknowledged by alice\nDB on fire: db-1", "alice", render.Yellow,
			[]adapters.Verb{adapters.VerbResolve}},
		{"a route's text while triggered", timeline.StateTriggered, "DB on fire: db-1", "DB on fire: db-1", "", render.Red,
			[]adapters.Verb{adapters.VerbAck, adapters.VerbResolve}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := render.Card(incident(tc.state), tc.route)
			assert.Equal(t, tc.text, m.Text)
			assert.Equal(t, tc.state, m.State)
			assert.Equal(t, tc.user, m.User)
			assert.Equal(t, tc.color, m.Color)
			assert.Equal(t, tc.actions, m.Actions)
			assert.Equal(t, "db-1 disk full", m.Title)
		})
	}
}

func TestAlertFactsAreSaidOnce(t *testing.T) {
	inc := incident(timeline.StateTriggered)
	ev := &timeline.Event{ID: 1, Kind: timeline.KindTriggered, Text: inc.Fields[timeline.FieldStateMessage], Fields: inc.Fields}
	for name, m := range map[string]adapters.Message{"event": render.Event(inc, ev), "card": render.Card(incident(timeline.StateAcknowledged), "")} {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, map[string]string{timeline.FieldEntityID: "db-1", "host": "db-1.example.com"}, m.Fields,
				"title, message type and state message are in the title and the sentence, not again in the fields")
		})
	}

	// An entity ID that is the title (no display name) is not listed again.
	inc.Title = "db-1"
	delete(inc.Fields, timeline.FieldEntityDisplayName)
	m := render.Event(inc, ev)
	assert.Equal(t, map[string]string{"host": "db-1.example.com"}, m.Fields)

	// A state message that repeats the title is not said twice.
	m = render.Event(inc, &timeline.Event{ID: 1, Kind: timeline.KindTriggered, Text: "db-1", Fields: inc.Fields})
	assert.Equal(t, "#7 triggered CRITICAL: db-1", m.Text)
}
