// Package api is sitrep's admin API: incidents (list, show, act on), rooms
// and routes (read, change, test), the outbox, and a backup of the store, all
// under /v1 behind the admin token, plus the index page that sends a browser
// to the default web room. Replies and errors are JSON written by httpjson.
package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sitrep/sitrep/httpjson"
	"github.com/sitrep/sitrep/outbox"
	"github.com/sitrep/sitrep/rooms"
	"github.com/sitrep/sitrep/routing"
	"github.com/sitrep/sitrep/secret"
	"github.com/sitrep/sitrep/storage"
	"github.com/sitrep/sitrep/timeline"
	"github.com/sitrep/sitrep/webhooks"
)

const maxAdminBody = 1 << 20

// Outbox is what the API reads of the outbox.
type Outbox interface {
	Pending(room string) (int, error)
	Dead(limit int) ([]outbox.DeadEntry, error)
}

// Options are what the API serves and checks against.
type Options struct {
	AdminToken  string // the bearer token every /v1 request must carry
	DefaultRoom string // the room the index sends a browser to; it cannot be deleted
	// Page, if set, is the path of a room's page on sitrep's own server (a
	// web room's), so the index may redirect to the default room's; "" for
	// a room with none.
	Page func(rooms.Room) string

	DB       *storage.DB // for GET /v1/backup
	Rooms    *rooms.Store
	Routes   *routing.Store
	Timeline *timeline.Timeline
	Outbox   Outbox
	Teams    Teams // nil: no team timelines
	// StatusPages, if its Store is set, serves /v1/status_pages.
	StatusPages StatusPages
	// Webhooks are the outgoing webhooks (GET/PUT /v1/webhooks, and route
	// test's webhook section); nil serves none.
	Webhooks *webhooks.Store

	// RoomUsable checks what the room store cannot: that sitrep can reach
	// the room on its platform. It returns the field at fault and why, or
	// "" when the room is usable. Nil accepts every room.
	RoomUsable func(rooms.Room) (field, msg string)

	Logger *slog.Logger     // nil: discard
	Now    func() time.Time // the time of events posted through the API; nil: time.Now
}

// API serves the admin endpoints. It is safe for concurrent use.
type API struct {
	opts    Options
	log     *slog.Logger
	now     func() time.Time
	adminMu sync.Mutex // serialises changes to rooms and routes, which check each other
}

// New builds the API; Register serves it.
func New(opts Options) *API {
	a := &API{opts: opts, log: opts.Logger, now: opts.Now}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.opts.RoomUsable == nil {
		a.opts.RoomUsable = func(rooms.Room) (string, string) { return "", "" }
	}
	return a
}

// Register adds the index and the /v1 admin endpoints to mux.
func (a *API) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", a.index)

	admin := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, a.requireAdmin(h)) }
	admin("GET /v1/incidents", a.listIncidents)
	admin("GET /v1/incidents/{id}", a.getIncident)
	admin("POST /v1/incidents/{id}/events", a.postIncidentEvent)
	admin("GET /v1/rooms", a.listRooms)
	admin("GET /v1/rooms/{name}", a.getRoom)
	admin("PUT /v1/rooms/{name}", a.putRoom)
	admin("DELETE /v1/rooms/{name}", a.deleteRoom)
	admin("GET /v1/routes", a.getRoutes)
	admin("PUT /v1/routes", a.putRoutes)
	admin("POST /v1/routes/test", a.testRoutes)
	admin("GET /v1/outbox", a.getOutbox)
	admin("GET /v1/backup", a.backup)
	admin("GET /v1/teams/{team}/timeline", a.teamTimeline)
	if a.opts.StatusPages.Store != nil {
		admin("GET /v1/status_pages", a.listStatusPages)
		admin("GET /v1/status_pages/{name}", a.getStatusPage)
		admin("PUT /v1/status_pages/{name}", a.putStatusPage)
	}
	if a.opts.Webhooks != nil {
		admin("GET /v1/webhooks", a.getWebhooks)
		admin("PUT /v1/webhooks", a.putWebhooks)
	}
}

func (a *API) requireAdmin(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := secret.Bearer(r)
		if !ok {
			httpjson.Error(w, http.StatusUnauthorized, "", "missing admin token: send Authorization: Bearer <admin token>")
			return
		}
		if !secret.Equal(tok, a.opts.AdminToken) {
			httpjson.Error(w, http.StatusUnauthorized, "", "invalid admin token")
			return
		}
		h.ServeHTTP(w, r)
	})
}

// index sends a browser to the default web room.
func (a *API) index(w http.ResponseWriter, r *http.Request) {
	room, ok := a.opts.Rooms.Get(a.opts.DefaultRoom)
	target := ""
	if ok && a.opts.Page != nil {
		target = a.opts.Page(room.WithDefaults())
	}
	if target == "" {
		httpjson.Write(w, http.StatusOK, map[string]string{"service": "sitrep"})
		return
	}
	if r.URL.RawQuery != "" {
		target += "?" + r.URL.RawQuery // keeps ?key=
	}
	http.Redirect(w, r, target, http.StatusFound)
}

func (a *API) getOutbox(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Query().Get("state") {
	case "dead":
		dead, err := a.opts.Outbox.Dead(500)
		if err != nil {
			a.internalError(w, err)
			return
		}
		redactDead(dead)
		httpjson.Write(w, http.StatusOK, map[string]any{"dead": dead})
	case "", "pending":
		pending := map[string]int{}
		for _, room := range a.opts.Rooms.List() {
			n, err := a.opts.Outbox.Pending(room.Name)
			if err != nil {
				a.internalError(w, err)
				return
			}
			pending[room.Name] = n
		}
		if a.opts.Webhooks != nil {
			for _, h := range a.opts.Webhooks.Load().Hooks() {
				n, err := a.opts.Outbox.Pending(webhooks.Room(h.Name))
				if err != nil {
					a.internalError(w, err)
					return
				}
				pending[webhooks.Room(h.Name)] = n
			}
		}
		httpjson.Write(w, http.StatusOK, map[string]any{"pending": pending})
	default:
		httpjson.Error(w, http.StatusBadRequest, "state", "state must be pending or dead")
	}
}

// backup copies the store to a file next to it first, so a slow download
// never holds a read transaction open (bbolt could not grow the file, and every
// write would wait), then sends that file with its length.
func (a *API) backup(w http.ResponseWriter, r *http.Request) {
	f, err := os.CreateTemp(filepath.Dir(a.opts.DB.Path()), ".sitrep-backup-*")
	if err != nil {
		a.internalError(w, fmt.Errorf("backup: %w", err))
		return
	}
	defer func() { _ = f.Close(); _ = os.Remove(f.Name()) }()
	if _, err := a.opts.DB.Backup(f, nil); err != nil {
		a.internalError(w, err)
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

func (a *API) internalError(w http.ResponseWriter, err error) {
	a.log.Error("request failed", "err", err)
	httpjson.Error(w, http.StatusInternalServerError, "", "internal error; see the server log")
}

// audit logs an admin change: what was done, by whom (the admin token's
// holder, from where), and what it changed, secrets redacted by the caller.
func (a *API) audit(r *http.Request, action string, attrs ...any) {
	a.log.Info("audit", append([]any{"action", action, "by", "admin token", "remote", r.RemoteAddr}, attrs...)...)
}
