package bot

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sitrep/sitrep/adapters/webroom"
	"github.com/sitrep/sitrep/httpjson"
	"github.com/sitrep/sitrep/rooms"
	"github.com/sitrep/sitrep/routing"
	"github.com/sitrep/sitrep/secret"
	"github.com/sitrep/sitrep/timeline"
)

const maxAdminBody = 1 << 20

func (b *Bot) registerAPI() {
	b.mux.HandleFunc("GET /healthz", b.healthz)
	b.mux.HandleFunc("GET /readyz", b.readyz)
	b.mux.Handle("GET /metrics", b.metrics())
	b.mux.HandleFunc("GET /{$}", b.index)

	admin := func(pattern string, h http.HandlerFunc) { b.mux.Handle(pattern, b.requireAdmin(h)) }
	admin("GET /v1/incidents", b.listIncidents)
	admin("GET /v1/incidents/{id}", b.getIncident)
	admin("POST /v1/incidents/{id}/events", b.postIncidentEvent)
	admin("GET /v1/rooms", b.listRooms)
	admin("GET /v1/rooms/{name}", b.getRoom)
	admin("PUT /v1/rooms/{name}", b.putRoom)
	admin("DELETE /v1/rooms/{name}", b.deleteRoom)
	admin("GET /v1/routes", b.getRoutes)
	admin("PUT /v1/routes", b.putRoutes)
	admin("POST /v1/routes/test", b.testRoutes)
	admin("GET /v1/outbox", b.getOutbox)
	admin("GET /v1/backup", b.backup)
}

func (b *Bot) requireAdmin(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := secret.Bearer(r)
		if !ok {
			httpjson.Error(w, http.StatusUnauthorized, "", "missing admin token: send Authorization: Bearer <admin token>")
			return
		}
		if !secret.Equal(tok, b.cfg.AdminToken) {
			httpjson.Error(w, http.StatusUnauthorized, "", "invalid admin token")
			return
		}
		h.ServeHTTP(w, r)
	})
}

// index sends a browser to the default web room.
func (b *Bot) index(w http.ResponseWriter, r *http.Request) {
	room, ok := b.rooms.Get(b.cfg.DefaultRoom)
	if b.web == nil || !ok || room.Platform != rooms.PlatformWebRoom {
		httpjson.Write(w, http.StatusOK, map[string]string{"service": "sitrep"})
		return
	}
	target := "/rooms/" + url.PathEscape(room.WithDefaults().ID)
	if r.URL.RawQuery != "" {
		target += "?" + r.URL.RawQuery // keeps ?key=
	}
	http.Redirect(w, r, target, http.StatusFound)
}

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

func (b *Bot) listIncidents(w http.ResponseWriter, r *http.Request) {
	var state timeline.State
	if s := r.URL.Query().Get("state"); s != "" {
		st, ok := timeline.ParseState(s)
		if !ok {
			httpjson.Error(w, http.StatusBadRequest, "state", fmt.Sprintf("state must be triggered, acknowledged or resolved, not %q", s))
			return
		}
		state = st
	}
	limit := 100
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 10000 {
			httpjson.Error(w, http.StatusBadRequest, "limit", "limit must be a number from 1 to 10000")
			return
		}
		limit = n
	}
	list, err := b.tl.Incidents(state, limit)
	if err != nil {
		b.internalError(w, err)
		return
	}
	out := make([]incidentView, 0, len(list))
	for _, inc := range list {
		out = append(out, viewOf(inc, nil))
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"incidents": out})
}

func (b *Bot) getIncident(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseUint(strings.TrimPrefix(r.PathValue("id"), "#"), 10, 64)
	if err != nil || id == 0 {
		httpjson.Error(w, http.StatusBadRequest, "id", "incident ID must be a positive number")
		return
	}
	inc, events, err := b.tl.Incident(id)
	if errors.Is(err, timeline.ErrNotFound) {
		httpjson.Error(w, http.StatusNotFound, "id", fmt.Sprintf("no incident #%d", id))
		return
	}
	if err != nil {
		b.internalError(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, viewOf(inc, events))
}

// postIncidentEvent acts on an incident for a tool or a person outside the
// rooms: {"kind": "acknowledged" | "resolved" | "note", "text": "...", "user": "..."}.
// The event reaches every room of the incident, as one typed in a room would.
func (b *Bot) postIncidentEvent(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseUint(strings.TrimPrefix(r.PathValue("id"), "#"), 10, 64)
	if err != nil || id == 0 {
		httpjson.Error(w, http.StatusBadRequest, "id", "incident ID must be a positive number")
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
	res, err := b.tl.Act(r.Context(), timeline.Action{IncidentID: id, Kind: kind, Text: strings.TrimSpace(body.Text),
		Origin: timeline.Origin{Adapter: "api", User: strings.TrimSpace(body.User), Time: b.now().UTC()}})
	var se *timeline.StateError
	switch {
	case errors.Is(err, timeline.ErrNotFound):
		httpjson.Error(w, http.StatusNotFound, "id", fmt.Sprintf("no incident #%d", id))
	case errors.As(err, &se):
		httpjson.Error(w, http.StatusConflict, "kind", se.Error())
	case err != nil:
		b.internalError(w, err)
	default:
		httpjson.Write(w, http.StatusCreated, map[string]any{"incident": viewOf(res.Incident, nil).Incident, "event": res.Event})
	}
}

func (b *Bot) listRooms(w http.ResponseWriter, _ *http.Request) {
	list := b.rooms.List()
	for i := range list {
		list[i] = list[i].Redacted()
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"rooms": list})
}

func (b *Bot) getRoom(w http.ResponseWriter, r *http.Request) {
	room, ok := b.rooms.Get(r.PathValue("name"))
	if !ok {
		httpjson.Error(w, http.StatusNotFound, "name", fmt.Sprintf("no room %q", r.PathValue("name")))
		return
	}
	httpjson.Write(w, http.StatusOK, room.Redacted())
}

func (b *Bot) putRoom(w http.ResponseWriter, r *http.Request) {
	var room rooms.Room
	if !decodeBody(w, r, &room) {
		return
	}
	name := r.PathValue("name")
	if room.Name != "" && room.Name != name {
		httpjson.Error(w, http.StatusBadRequest, "name", fmt.Sprintf("body names room %q but the URL names %q", room.Name, name))
		return
	}
	room.Name = name
	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	old, existed := b.rooms.Get(name)
	switch {
	case room.Token == "" && existed && old.Platform == room.Platform:
		room.Token = old.Token // tokens are write-only: leaving one out keeps it
	case secret.IsRedacted(room.Token):
		if !existed || old.Platform != room.Platform || secret.Redact(old.Token) != room.Token {
			httpjson.Error(w, http.StatusBadRequest, "token", "the token is a redacted value that matches no stored one: send the real token, or leave it out to keep the stored one")
			return
		}
		room.Token = old.Token // GET then PUT: the redacted form keeps the stored token
	}
	if field, msg := b.roomUsable(room); field != "" {
		httpjson.Error(w, http.StatusBadRequest, field, msg)
		return
	}
	if err := b.rooms.Put(r.Context(), room); err != nil {
		var fe *rooms.FieldError
		if errors.As(err, &fe) {
			httpjson.Error(w, http.StatusBadRequest, fe.Field, err.Error())
			return
		}
		b.internalError(w, err)
		return
	}
	saved, _ := b.rooms.Get(name)
	code := http.StatusCreated
	if existed {
		code = http.StatusOK
	}
	httpjson.Write(w, code, saved.Redacted())
}

// roomUsable checks what config check checks of a room beyond its own
// fields: its platform is on, and sitrep can reach it there.
func (b *Bot) roomUsable(room rooms.Room) (field, msg string) {
	room = room.WithDefaults()
	if room.Platform == "" {
		return "", "" // rooms.Put names the missing platform
	}
	if _, on := b.chats[room.Platform]; !on {
		return "platform", fmt.Sprintf("platform %s is off on this server: configure it first", room.Platform)
	}
	switch room.Platform {
	case rooms.PlatformWebRoom:
		if !webroom.ValidRoomName(room.ID) {
			return "id", "a web room's id is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
		}
	case rooms.PlatformHipChat:
		if room.Token == "" && b.cfg.HipChat.Token == "" {
			return "token", "required for a HipChat room, unless hipchat.token is set"
		}
	}
	return "", ""
}

func (b *Bot) deleteRoom(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if name == b.cfg.DefaultRoom {
		httpjson.Error(w, http.StatusConflict, "name", fmt.Sprintf("room %q is the default room; change default_room first", name))
		return
	}
	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	for _, rule := range b.router.Load().Rules() {
		for _, rn := range rule.Rooms {
			if rn == name {
				httpjson.Error(w, http.StatusConflict, "name", fmt.Sprintf("route %q sends to room %q; change the routes first", rule.Name, name))
				return
			}
		}
	}
	if err := b.rooms.Delete(r.Context(), name); err != nil {
		if errors.Is(err, rooms.ErrNotFound) {
			httpjson.Error(w, http.StatusNotFound, "name", fmt.Sprintf("no room %q", name))
			return
		}
		b.internalError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (b *Bot) getRoutes(w http.ResponseWriter, _ *http.Request) {
	httpjson.Write(w, http.StatusOK, map[string]any{"routes": redactRules(b.router.Load().Rules())})
}

func redactRules(rules []routing.Rule) []routing.Rule {
	for i := range rules {
		rules[i] = rules[i].Redacted()
	}
	return rules
}

func (b *Bot) putRoutes(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Routes []routing.Rule `json:"routes"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	if body.Routes == nil {
		httpjson.Error(w, http.StatusBadRequest, "routes", `body must be {"routes": [...]}`)
		return
	}
	b.adminMu.Lock()
	err := b.router.Replace(r.Context(), body.Routes)
	b.adminMu.Unlock()
	if err != nil {
		if problems := ruleErrors(err); len(problems) > 0 {
			// field names the first problem; errors lists them all.
			httpjson.Write(w, http.StatusBadRequest, map[string]any{
				"error": err.Error(), "field": problems[0]["field"], "errors": problems,
			})
			return
		}
		b.internalError(w, err)
		return
	}
	b.getRoutes(w, r)
}

// ruleErrors lists each *routing.RuleError in err as {"field", "error"}.
func ruleErrors(err error) []map[string]string {
	var out []map[string]string
	for _, re := range routing.RuleErrors(err) {
		out = append(out, map[string]string{"field": fmt.Sprintf("routes[%d].%s", re.Index, re.Field), "error": re.Error()})
	}
	return out
}

func (b *Bot) testRoutes(w http.ResponseWriter, r *http.Request) {
	var fields map[string]string
	if !decodeBody(w, r, &fields) {
		return
	}
	httpjson.Write(w, http.StatusOK, b.router.Load().Explain(fields, nil))
}

func (b *Bot) getOutbox(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Query().Get("state") {
	case "dead":
		dead, err := b.outbox.Dead(500)
		if err != nil {
			b.internalError(w, err)
			return
		}
		httpjson.Write(w, http.StatusOK, map[string]any{"dead": dead})
	case "", "pending":
		pending := map[string]int{}
		for _, room := range b.rooms.List() {
			n, err := b.outbox.Pending(room.Name)
			if err != nil {
				b.internalError(w, err)
				return
			}
			pending[room.Name] = n
		}
		httpjson.Write(w, http.StatusOK, map[string]any{"pending": pending})
	default:
		httpjson.Error(w, http.StatusBadRequest, "state", "state must be pending or dead")
	}
}

// backup copies the store to a file next to it first, so a slow download
// never holds a read transaction open (bbolt could not grow the file, and every
// write would wait), then sends that file with its length.
func (b *Bot) backup(w http.ResponseWriter, r *http.Request) {
	f, err := os.CreateTemp(filepath.Dir(b.db.Path()), ".sitrep-backup-*")
	if err != nil {
		b.internalError(w, fmt.Errorf("backup: %w", err))
		return
	}
	defer func() { _ = f.Close(); _ = os.Remove(f.Name()) }()
	if _, err := b.db.Backup(f, nil); err != nil {
		b.internalError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="sitrep-backup.db"`)
	http.ServeContent(w, r, "", time.Time{}, f) // sets Content-Length
}

func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		httpjson.Error(w, http.StatusUnsupportedMediaType, "", "Content-Type must be application/json")
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAdminBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("more than one JSON value in the body")
	}
	if err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			httpjson.Error(w, http.StatusRequestEntityTooLarge, "", "body over 1 MiB")
		case errors.Is(err, io.EOF):
			httpjson.Error(w, http.StatusBadRequest, "", "empty body: send JSON")
		default:
			httpjson.Error(w, http.StatusBadRequest, jsonField(err), "invalid JSON: "+err.Error())
		}
		return false
	}
	return true
}

// jsonField names the field a decode error is about, when it says.
func jsonField(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return te.Field
	}
	if s, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return strings.Trim(s, `"`)
	}
	return ""
}

func (b *Bot) internalError(w http.ResponseWriter, err error) {
	b.log.Error("request failed", "err", err)
	httpjson.Error(w, http.StatusInternalServerError, "", "internal error; see the server log")
}
