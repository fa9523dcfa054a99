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
	"github.com/sitrep/sitrep/statuspage"
)

// Kind is the status_pages kind of a StatusHub page.
const Kind = "statushub"

// The hook's enums are the status page model's: statuspage.State
// (investigating, identified, monitoring, resolved) and statuspage.Status
// (down, degraded, up).

// TimeLayout is the hook's timestamp format: UTC, seconds.
const TimeLayout = "2006-01-02T15:04:05Z"

// timePattern is the schema's pattern for start_time.
var timePattern = regexp.MustCompile(`^202[0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9]Z$`)

// Incident is one Generic Hook v2 incident update.
type Incident struct {
	Type        string            `json:"type"` // always "incident"
	ID          string            `json:"id"`   // the same for every update of one incident on one service
	Title       string            `json:"title"`
	Description string            `json:"description"`
	StartTime   string            `json:"start_time"` // when the event happened (TimeLayout), not when it was delivered
	State       statuspage.State  `json:"state"`
	Status      statuspage.Status `json:"status"`
	Silent      bool              `json:"silent,omitempty"`
	Draft       bool              `json:"draft,omitempty"`
}

// Maintenance is one Generic Hook v2 maintenance: it has an end_time and no state.
type Maintenance struct {
	Type        string            `json:"type"` // always "maintenance"
	ID          string            `json:"id"`
	Title       string            `json:"title"`
	Description string            `json:"description"`
	StartTime   string            `json:"start_time"`
	EndTime     string            `json:"end_time"`
	Status      statuspage.Status `json:"status"`
	Silent      bool              `json:"silent,omitempty"`
	Draft       bool              `json:"draft,omitempty"`
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
	if _, err := statuspage.ParseState(string(u.State)); err != nil {
		errs = append(errs, err)
	}
	if _, err := statuspage.ParseStatus(string(u.Status)); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Validate checks m against the hook's maintenance schema, naming the field at fault.
func (m Maintenance) Validate() error {
	var errs []error
	if m.Type != "maintenance" {
		errs = append(errs, fmt.Errorf("type %q: expected maintenance", m.Type))
	}
	if m.Title == "" {
		errs = append(errs, errors.New("title: required"))
	}
	for _, f := range []struct{ name, v string }{{"start_time", m.StartTime}, {"end_time", m.EndTime}} {
		if !timePattern.MatchString(f.v) {
			errs = append(errs, fmt.Errorf("%s %q: expected YYYY-MM-DDTHH:MM:SSZ (UTC, 2020-2029)", f.name, f.v))
		}
	}
	if m.EndTime <= m.StartTime && timePattern.MatchString(m.EndTime) {
		errs = append(errs, fmt.Errorf("end_time %s: not after start_time %s", m.EndTime, m.StartTime))
	}
	if _, err := statuspage.ParseStatus(string(m.Status)); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// RenderUpdate is the kind's statuspage.Renderer: every change of a page
// incident is an incident update of its id; a maintenance is a maintenance.
func RenderUpdate(u statuspage.Update) (json.RawMessage, error) {
	if u.Maintenance {
		m := Maintenance{Type: "maintenance", ID: u.ID, Title: u.Title, Description: u.Description,
			StartTime: FormatTime(u.Start), EndTime: FormatTime(u.End), Status: u.Status, Silent: u.Silent, Draft: u.Draft}
		if err := m.Validate(); err != nil {
			return nil, fmt.Errorf("statushub maintenance: %w", err)
		}
		return json.Marshal(m)
	}
	return Render(Incident{Type: "incident", ID: u.ID, Title: u.Title, Description: u.Description,
		StartTime: FormatTime(u.Start), State: u.State, Status: u.Status, Silent: u.Silent, Draft: u.Draft})
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
