// Package timeline is sitrep's event model and incident state machine.
// Every alert, acknowledgement, chat line and command becomes an Event on an
// Incident's timeline, committed to storage before anyone hears of it.
package timeline

import (
	"fmt"
	"strings"
	"time"
)

// Kind says what an event is.
type Kind string

// Event kinds.
const (
	KindTriggered    Kind = "triggered"    // an alert opened an incident
	KindUpdated      Kind = "updated"      // a further CRITICAL/WARNING for an open incident that says something new
	KindRepeated     Kind = "repeated"     // a further CRITICAL/WARNING with the same message type and state message (a re-fire)
	KindAcknowledged Kind = "acknowledged" // someone (or an alert source) acknowledged it
	KindResolved     Kind = "resolved"     // a RECOVERY or a responder resolved it
	KindNote         Kind = "note"         // an INFO alert: a note, no state change
	KindChat         Kind = "chat"         // a responder's chat line about the incident
	KindCommand      Kind = "command"      // a command that ran against the incident without changing its state
	KindStatusPage   Kind = "status_page"  // a status page update sitrep queued for the incident, or a page's refusal of one
	KindEscalated    Kind = "escalated"    // still unacknowledged after a route's escalate: after; announced in the step's rooms
)

// State is an incident's place in its life.
type State string

// Incident states.
const (
	StateTriggered    State = "triggered"
	StateAcknowledged State = "acknowledged"
	StateResolved     State = "resolved"
)

// ParseState reads a state name as the API takes it (case-insensitive).
func ParseState(s string) (State, bool) {
	switch st := State(strings.ToLower(strings.TrimSpace(s))); st {
	case StateTriggered, StateAcknowledged, StateResolved:
		return st, true
	}
	return "", false
}

// Message types of the Splunk On-Call (VictorOps) REST integration.
const (
	MsgCritical        = "CRITICAL"
	MsgWarning         = "WARNING"
	MsgAcknowledgement = "ACKNOWLEDGEMENT"
	MsgInfo            = "INFO"
	MsgRecovery        = "RECOVERY"
)

// ParseMessageType normalises a message_type (case-insensitive); ok is false for an unknown one.
func ParseMessageType(s string) (string, bool) {
	switch mt := strings.ToUpper(strings.TrimSpace(s)); mt {
	case MsgCritical, MsgWarning, MsgAcknowledgement, MsgInfo, MsgRecovery:
		return mt, true
	}
	return "", false
}

// FieldEntityState is the alert's state as Splunk On-Call names it, set on
// every alert from its message type (see EntityState).
const FieldEntityState = "entity_state"

// EntityState is the entity_state Splunk On-Call gives an alert of message
// type mt: CRITICAL, WARNING and INFO as they are, OK for a RECOVERY; ""
// for an ACKNOWLEDGEMENT (it changes the incident, not the entity).
func EntityState(mt string) string {
	switch mt {
	case MsgCritical, MsgWarning, MsgInfo:
		return mt
	case MsgRecovery:
		return "OK"
	}
	return ""
}

// SetEntityState sets fields' entity_state from its message type, as
// Splunk On-Call does; an acknowledgement keeps the one the source gave.
func SetEntityState(fields map[string]string, mt string) {
	if st := EntityState(mt); st != "" {
		fields[FieldEntityState] = st
	}
}

// Origin records where an event came from, so it is never mirrored back there.
type Origin struct {
	Adapter   string `json:"adapter"`              // "http", "alertmanager", "webroom", "slack", ...
	Room      string `json:"room,omitempty"`       // sitrep room name the event was typed in
	MessageID string `json:"message_id,omitempty"` // platform message ID
	User      string `json:"user,omitempty"`
	// Unverified means the platform did not vouch for User: the sender
	// chose the name (a web room without a configured user key).
	Unverified bool      `json:"unverified,omitempty"`
	Time       time.Time `json:"time"`
}

// Event is one entry on an incident's timeline.
type Event struct {
	ID         uint64            `json:"id"`
	IncidentID uint64            `json:"incident_id"`
	Kind       Kind              `json:"kind"`
	Text       string            `json:"text,omitempty"`
	Fields     map[string]string `json:"fields,omitempty"`
	Origin     Origin            `json:"origin"`
	Time       time.Time         `json:"time"`
}

// Incident is the state an entity's timeline adds up to.
type Incident struct {
	ID             uint64            `json:"id"`
	EntityID       string            `json:"entity_id"`
	Title          string            `json:"title"`
	State          State             `json:"state"`
	Fields         map[string]string `json:"fields,omitempty"`
	Rooms          []string          `json:"rooms,omitempty"`
	Messages       map[string]string `json:"messages,omitempty"` // by room: the text a route gave the incident's card there
	OpenedAt       time.Time         `json:"opened_at"`
	UpdatedAt      time.Time         `json:"updated_at"`
	AcknowledgedAt *time.Time        `json:"acknowledged_at,omitempty"`
	AcknowledgedBy string            `json:"acknowledged_by,omitempty"`
	ResolvedAt     *time.Time        `json:"resolved_at,omitempty"`
	ResolvedBy     string            `json:"resolved_by,omitempty"`
	LastEventID    uint64            `json:"last_event_id"`
	FirstEventID   uint64            `json:"first_event_id,omitempty"` // the alert that opened it
	// FieldsEvent is the event whose fields Fields are (the latest alert's,
	// unless a route set more): the stored incident leaves them out and they
	// are read from that event, so an alert's fields are written once.
	FieldsEvent uint64 `json:"fields_event,omitempty"`
}

// Open reports whether the incident is not yet resolved.
func (i *Incident) Open() bool { return i.State != StateResolved }

// HasRoom reports whether the incident has been routed to room.
func (i *Incident) HasRoom(room string) bool {
	for _, r := range i.Rooms {
		if r == room {
			return true
		}
	}
	return false
}

// Alert is one alert as an ingest path hands it to the timeline.
type Alert struct {
	MessageType string            // one of the Msg* constants
	EntityID    string            // never empty once decoded
	Fields      map[string]string // every string field, verbatim, including entity_id and message_type; never written once handed to the timeline (events, incidents and messages share it)
	Time        time.Time         // when the source says it happened; zero means now
	Origin      Origin
}

// MaxEntityID is the longest entity_id the timeline takes, in bytes (it is a
// bbolt key, and a person has to be able to read it).
const MaxEntityID = 1024

// InvalidError is an alert the timeline cannot take however often it is sent
// (a 4xx, not a 5xx: retrying cannot help).
type InvalidError struct {
	Index int    // the alert's position in the batch
	Field string // the field at fault
	Msg   string
}

func (e *InvalidError) Error() string {
	return fmt.Sprintf("alert %d: %s: %s", e.Index, e.Field, e.Msg)
}

// Field names with a meaning of their own.
const (
	FieldEntityID          = "entity_id"
	FieldMessageType       = "message_type"
	FieldEntityDisplayName = "entity_display_name"
	FieldStateMessage      = "state_message"
)

// Result is what one applied alert or action did.
type Result struct {
	Incident Incident `json:"incident"`
	Event    Event    `json:"event"`
	Created  bool     `json:"created"`           // the event opened a new incident
	Follow   []Event  `json:"follow,omitempty"`  // events Event caused, recorded after it (Dispatched.Follow)
	Wake     []string `json:"-"`                 // destinations beyond the incident's rooms with new outbox entries
	Ignored  string   `json:"ignored,omitempty"` // why nothing was recorded (an ACKNOWLEDGEMENT for an unknown entity)
}
