package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/sitrep/sitrep/httpjson"
	"github.com/sitrep/sitrep/secret"
	"github.com/sitrep/sitrep/timeline"
)

// incidentView is an incident as the API shows it: secret-looking fields redacted.
type incidentView struct {
	timeline.Incident
	Events []timeline.Event `json:"events,omitempty"`
}

func viewOf(inc timeline.Incident, events []timeline.Event) incidentView {
	inc.Fields = secret.RedactFields(inc.Fields)
	for i := range events {
		events[i].Fields = secret.RedactFields(events[i].Fields)
	}
	return incidentView{Incident: inc, Events: events}
}

func (a *API) listIncidents(w http.ResponseWriter, r *http.Request) {
	var state timeline.State
	if s := r.URL.Query().Get("state"); s != "" {
		st, ok := timeline.ParseState(s)
		if !ok {
			httpjson.Error(w, http.StatusBadRequest, "state", fmt.Sprintf("state must be triggered, acknowledged or resolved, not %q", s))
			return
		}
		state = st
	}
	limit, ok := queryLimit(w, r)
	if !ok {
		return
	}
	list, err := a.opts.Timeline.Incidents(state, limit)
	if err != nil {
		a.internalError(w, err)
		return
	}
	out := make([]incidentView, 0, len(list))
	for _, inc := range list {
		out = append(out, viewOf(inc, nil))
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"incidents": out})
}

// incidentID reads the {id} of the path ("12" or "#12"), or writes a 400.
func incidentID(w http.ResponseWriter, r *http.Request) (uint64, bool) {
	id, err := strconv.ParseUint(strings.TrimPrefix(r.PathValue("id"), "#"), 10, 64)
	if err != nil || id == 0 {
		httpjson.Error(w, http.StatusBadRequest, "id", "incident ID must be a positive number")
		return 0, false
	}
	return id, true
}

func (a *API) getIncident(w http.ResponseWriter, r *http.Request) {
	id, ok := incidentID(w, r)
	if !ok {
		return
	}
	inc, events, err := a.opts.Timeline.Incident(id)
	if errors.Is(err, timeline.ErrNotFound) {
		httpjson.Error(w, http.StatusNotFound, "id", fmt.Sprintf("no incident #%d", id))
		return
	}
	if err != nil {
		a.internalError(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, viewOf(inc, events))
}

// postIncidentEvent acts on an incident for a tool or a person outside the
// rooms: {"kind": "acknowledged" | "resolved" | "note", "text": "...", "user": "..."}.
// The event reaches every room of the incident, as one typed in a room would.
func (a *API) postIncidentEvent(w http.ResponseWriter, r *http.Request) {
	id, ok := incidentID(w, r)
	if !ok {
		return
	}
	var body struct {
		Kind string `json:"kind"`
		Text string `json:"text"`
		User string `json:"user"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	kinds := map[string]timeline.Kind{"acknowledged": timeline.KindAcknowledged, "ack": timeline.KindAcknowledged,
		"resolved": timeline.KindResolved, "resolve": timeline.KindResolved, "note": timeline.KindNote}
	kind, ok := kinds[strings.ToLower(body.Kind)]
	if !ok {
		httpjson.Error(w, http.StatusBadRequest, "kind", `kind must be "acknowledged", "resolved" or "note"`)
		return
	}
	if kind == timeline.KindNote && strings.TrimSpace(body.Text) == "" {
		httpjson.Error(w, http.StatusBadRequest, "text", "a note needs text")
		return
	}
	if len(body.Text) > 4000 || len(body.User) > 128 {
		httpjson.Error(w, http.StatusBadRequest, "text", "text is limited to 4000 bytes and user to 128")
		return
	}
	res, err := a.opts.Timeline.Act(r.Context(), timeline.Action{IncidentID: id, Kind: kind, Text: strings.TrimSpace(body.Text),
		Origin: timeline.Origin{Adapter: "api", User: strings.TrimSpace(body.User), Time: a.now().UTC()}})
	var se *timeline.StateError
	switch {
	case errors.Is(err, timeline.ErrNotFound):
		httpjson.Error(w, http.StatusNotFound, "id", fmt.Sprintf("no incident #%d", id))
	case errors.As(err, &se):
		httpjson.Error(w, http.StatusConflict, "kind", se.Error())
	case err != nil:
		a.internalError(w, err)
	default:
		a.audit(r, "incident.event", "incident", res.Incident.ID, "kind", res.Event.Kind, "user", res.Event.Origin.User)
		httpjson.Write(w, http.StatusCreated, map[string]any{"incident": viewOf(res.Incident, nil).Incident, "event": res.Event})
	}
}

// queryLimit reads ?limit= (default 100), or writes a 400.
func queryLimit(w http.ResponseWriter, r *http.Request) (int, bool) {
	limit := 100
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 10000 {
			httpjson.Error(w, http.StatusBadRequest, "limit", "limit must be a number from 1 to 10000")
			return 0, false
		}
		limit = n
	}
	return limit, true
}
