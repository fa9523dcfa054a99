// Package statushub delivers incident updates to StatusHub services through
// their Generic Hook v2 URLs (one per service; its token is in the query).
// Payloads are rendered when the event is recorded (Render) and carried by
// the outbox in adapters.Message.Payload; Chat only posts them.
package statushub

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"time"

	"github.com/sitrep/sitrep/adapters/hookpost"
)

// Kind is the status_pages kind of a StatusHub page.
const Kind = "statushub"

// State is an incident's state on StatusHub.
type State string

// States, as Generic Hook v2 takes them. Resolved closes the incident: it is
// never the first update of an id and always its last.
const (
	Investigating State = "investigating"
	Identified    State = "identified"
	Monitoring    State = "monitoring"
	Resolved      State = "resolved"
)

// Status is a service's status on StatusHub.
type Status string

// Statuses, as Generic Hook v2 takes them.
const (
	Down     Status = "down"
	Degraded Status = "degraded"
	Up       Status = "up"
)

// ParseState checks s against the hook's enum.
func ParseState(s string) (State, error) {
	switch st := State(s); st {
	case Investigating, Identified, Monitoring, Resolved:
		return st, nil
	}
	return "", fmt.Errorf("state %q: expected investigating, identified, monitoring or resolved", s)
}

// ParseStatus checks s against the hook's enum.
func ParseStatus(s string) (Status, error) {
	switch st := Status(s); st {
	case Down, Degraded, Up:
		return st, nil
	}
	return "", fmt.Errorf("status %q: expected down, degraded or up", s)
}

// TimeLayout is the hook's timestamp format: UTC, seconds.
const TimeLayout = "2006-01-02T15:04:05Z"

// timePattern is the schema's pattern for start_time.
var timePattern = regexp.MustCompile(`^202[0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9]Z$`)

// Incident is one Generic Hook v2 incident update.
type Incident struct {
	Type        string `json:"type"` // always "incident"
	ID          string `json:"id"`   // the same for every update of one incident on one service
	Title       string `json:"title"`
	Description string `json:"description"`
	StartTime   string `json:"start_time"` // when the event happened (TimeLayout), not when it was delivered
	State       State  `json:"state"`
	Status      Status `json:"status"`
	Silent      bool   `json:"silent,omitempty"`
	Draft       bool   `json:"draft,omitempty"`
}

// FormatTime formats t as the hook takes it.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeLayout) }

// Validate checks u against the hook's schema, naming the field at fault.
func (u Incident) Validate() error {
	var errs []error
	if u.Type != "incident" {
		errs = append(errs, fmt.Errorf("type %q: expected incident", u.Type))
	}
	if u.ID == "" {
		errs = append(errs, errors.New("id: required, the same for every update of the incident"))
	}
	if u.Title == "" {
		errs = append(errs, errors.New("title: required"))
	}
	if !timePattern.MatchString(u.StartTime) {
		errs = append(errs, fmt.Errorf("start_time %q: expected YYYY-MM-DDTHH:MM:SSZ (UTC, 2020-2029)", u.StartTime))
	}
	if _, err := ParseState(string(u.State)); err != nil {
		errs = append(errs, err)
	}
	if _, err := ParseStatus(string(u.Status)); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Render validates u and returns its JSON body.
func Render(u Incident) (json.RawMessage, error) {
	if err := u.Validate(); err != nil {
		return nil, fmt.Errorf("statushub incident: %w", err)
	}
	b, err := json.Marshal(u)
	if err != nil {
		return nil, fmt.Errorf("statushub incident: %w", err)
	}
	return b, nil
}

// New returns the kind's Chat: it posts rendered updates to the hook URL in
// each delivery's Room.ID, with client (one with a 30 s timeout if nil).
func New(client *http.Client) *hookpost.Chat { return hookpost.NewChat(Kind, client) }
