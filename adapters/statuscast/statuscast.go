// Package statuscast delivers to a StatusCast page's VictorOps webhook
// (https://yourapp.statuscast.com/webhook/victorops): on an incident
// triggered and on its resolution, a JSON body {"monitorName", "state"},
// where monitorName names a StatusCast monitor template and state is the
// alert's entity_state (CRITICAL, WARNING, INFO, OK). Payloads are rendered
// when the event is recorded (Render); Chat only posts them.
package statuscast

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/sitrep/sitrep/adapters/hookpost"
	"github.com/sitrep/sitrep/statuspage"
)

// Kind is the status_pages kind of a StatusCast page.
const Kind = "statuscast"

// Update is the webhook's body. Both properties are required.
type Update struct {
	MonitorName string `json:"monitorName"`
	State       string `json:"state"`
}

// Render checks u and returns its JSON body.
func Render(u Update) (json.RawMessage, error) {
	var errs []error
	if u.MonitorName == "" {
		errs = append(errs, errors.New("monitorName: required"))
	}
	if u.State == "" {
		errs = append(errs, errors.New("state: required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("statuscast update: %w", err)
	}
	b, err := json.Marshal(u)
	if err != nil {
		return nil, fmt.Errorf("statuscast update: %w", err)
	}
	return b, nil
}

// RenderUpdate is the kind's statuspage.Renderer: StatusCast hears of a page
// incident when it opens (state: the alert's entity_state) and when its
// alerts recover (state OK); nothing else.
func RenderUpdate(u statuspage.Update) (json.RawMessage, error) {
	switch u.Change {
	case statuspage.Opened:
		return Render(Update{MonitorName: u.MonitorName, State: u.EntityState})
	case statuspage.Recovered:
		return Render(Update{MonitorName: u.MonitorName, State: "OK"})
	}
	return nil, nil
}

// New returns the kind's Chat: it posts rendered updates to the hook URL in
// each delivery's Room.ID, with client (one with a 30 s timeout if nil).
func New(client *http.Client) *hookpost.Chat { return hookpost.NewChat(Kind, client) }
