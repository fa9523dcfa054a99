package statuspage

import (
	"encoding/json"
	"fmt"
	"time"
)

// State is a page incident's state, as StatusHub's Generic Hook v2 and
// Uptrends name them. Resolved closes the incident: it is never the first
// update of a page incident and always its last.
type State string

// States.
const (
	Investigating State = "investigating"
	Identified    State = "identified"
	Monitoring    State = "monitoring"
	Resolved      State = "resolved"
)

// ParseState checks s against the states.
func ParseState(s string) (State, error) {
	switch st := State(s); st {
	case Investigating, Identified, Monitoring, Resolved:
		return st, nil
	}
	return "", fmt.Errorf("state %q: expected investigating, identified, monitoring or resolved", s)
}

// Status is a service's status on a page.
type Status string

// Statuses.
const (
	Down     Status = "down"
	Degraded Status = "degraded"
	Up       Status = "up"
)

// ParseStatus checks s against the statuses.
func ParseStatus(s string) (Status, error) {
	switch st := Status(s); st {
	case Down, Degraded, Up:
		return st, nil
	}
	return "", fmt.Errorf("status %q: expected down, degraded or up", s)
}

// worse reports whether a is a worse status than b.
func worse(a, b Status) bool { return rank(a) > rank(b) }

func rank(s Status) int {
	switch s {
	case Down:
		return 2
	case Degraded:
		return 1
	}
	return 0
}

// Change says what an update does to its page incident, so a page kind
// that only hears of some changes (StatusCast: opened and recovered) can
// tell them apart.
type Change string

// Changes.
const (
	Opened    Change = "opened"    // the page incident's first update
	Changed   Change = "changed"   // a new state, status or message
	Recovered Change = "recovered" // the alerts behind it recovered (monitoring, up)
	Closed    Change = "closed"    // resolved: its last update
	Scheduled Change = "scheduled" // a maintenance announced
)

// Update is one update of a page incident (or a maintenance) for one of its
// page's services, as a page kind renders it.
type Update struct {
	ID          string // the same for every update of one page incident
	Page        string
	Service     string // "" for a page without services
	Change      Change
	Title       string
	Description string
	Start       time.Time // when the event happened (not when it is delivered)
	End         time.Time // a maintenance's end
	Maintenance bool
	State       State // "" for a maintenance
	Status      Status
	Silent      bool
	Draft       bool
	// MonitorName and EntityState are what a monitor-driven page kind
	// (StatusCast) takes: the route's rendered monitor_name and the
	// alert's entity_state (OK once recovered).
	MonitorName string
	EntityState string
}

// Renderer renders u as a page kind's request body; a nil body with no
// error means the kind has nothing to say about this change.
type Renderer func(u Update) (json.RawMessage, error)
