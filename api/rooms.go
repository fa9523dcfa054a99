package api

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/sitrep/sitrep/httpjson"
	"github.com/sitrep/sitrep/rooms"
	"github.com/sitrep/sitrep/secret"
)

func (a *API) listRooms(w http.ResponseWriter, _ *http.Request) {
	list := a.opts.Rooms.List()
	for i := range list {
		list[i] = list[i].Redacted()
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"rooms": list})
}

func (a *API) getRoom(w http.ResponseWriter, r *http.Request) {
	room, ok := a.opts.Rooms.Get(r.PathValue("name"))
	if !ok {
		httpjson.Error(w, http.StatusNotFound, "name", fmt.Sprintf("no room %q", r.PathValue("name")))
		return
	}
	out := roomView{Room: room.Redacted()}
	// The room's last error is its newest dead-lettered delivery's (a Slack
	// channel the bot is not in: not_in_channel).
	if dead, err := a.opts.Outbox.Dead(500); err == nil {
		for _, d := range dead {
			if d.Room == room.Name {
				out.LastError, out.LastErrorAt = d.Error, d.DiedAt
				break
			}
		}
	}
	httpjson.Write(w, http.StatusOK, out)
}

// roomView is a room as GET /v1/rooms/{name} shows it.
type roomView struct {
	rooms.Room
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
}

func (a *API) putRoom(w http.ResponseWriter, r *http.Request) {
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
	a.adminMu.Lock()
	defer a.adminMu.Unlock()
	old, existed := a.opts.Rooms.Get(name)
	var ok bool
	if room.Token, ok = keepToken(w, "token", room.Token, old.Token, existed && old.Platform == room.Platform); !ok {
		return
	}
	if room.NotifyToken, ok = keepToken(w, "notify_token", room.NotifyToken, old.NotifyToken, existed); !ok {
		return
	}
	if field, msg := a.opts.RoomUsable(room); field != "" {
		httpjson.Error(w, http.StatusBadRequest, field, msg)
		return
	}
	if err := a.opts.Rooms.Put(r.Context(), room); err != nil {
		var fe *rooms.FieldError
		if errors.As(err, &fe) {
			httpjson.Error(w, http.StatusBadRequest, fe.Field, err.Error())
			return
		}
		a.internalError(w, err)
		return
	}
	saved, _ := a.opts.Rooms.Get(name)
	code := http.StatusCreated
	if existed {
		code = http.StatusOK
		a.audit(r, "room.put", "room", name, "before", old.Redacted(), "after", saved.Redacted())
	} else {
		a.audit(r, "room.put", "room", name, "after", saved.Redacted())
	}
	httpjson.Write(w, code, saved.Redacted())
}

func (a *API) deleteRoom(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if name == a.opts.DefaultRoom {
		httpjson.Error(w, http.StatusConflict, "name", fmt.Sprintf("room %q is the default room; change default_room first", name))
		return
	}
	a.adminMu.Lock()
	defer a.adminMu.Unlock()
	for _, rule := range a.opts.Routes.Load().Rules() {
		for _, rn := range rule.Rooms {
			if rn == name {
				httpjson.Error(w, http.StatusConflict, "name", fmt.Sprintf("route %q sends to room %q; change the routes first", rule.Name, name))
				return
			}
		}
	}
	if err := a.opts.Rooms.Delete(r.Context(), name); err != nil {
		if errors.Is(err, rooms.ErrNotFound) {
			httpjson.Error(w, http.StatusNotFound, "name", fmt.Sprintf("no room %q", name))
			return
		}
		a.internalError(w, err)
		return
	}
	a.audit(r, "room.delete", "room", name)
	w.WriteHeader(http.StatusNoContent)
}

// keepToken applies the write-only rule to one of a room's tokens on PUT:
// leaving it out keeps the stored one (where keep allows), and so does its
// redacted form when it matches the stored one; any other redacted value is a
// 400, already sent when ok is false.
func keepToken(w http.ResponseWriter, field, got, stored string, keep bool) (tok string, ok bool) {
	switch {
	case got == "" && keep:
		return stored, true // tokens are write-only: leaving one out keeps it
	case secret.IsRedacted(got):
		if !keep || secret.Redact(stored) != got {
			httpjson.Error(w, http.StatusBadRequest, field, "the "+field+" is a redacted value that matches no stored one: send the real token, or leave it out to keep the stored one")
			return "", false
		}
		return stored, true // GET then PUT: the redacted form keeps the stored token
	}
	return got, true
}
