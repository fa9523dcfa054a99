package oncall

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/sitrep/sitrep/httpjson"
	"github.com/sitrep/sitrep/secret"
)

// HTTPOptions are the tokens the endpoints take.
type HTTPOptions struct {
	AdminToken  string // /v1/schedules
	IngestToken string // POST /v1/oncall, as alert sources hold it
	Logger      *slog.Logger
}

// Register serves GET /v1/schedules, GET/PUT/DELETE /v1/schedules/{team}
// (admin token) and POST /v1/oncall (ingest token) on mux.
func (s *Service) Register(mux *http.ServeMux, o HTTPOptions) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &handlers{s: s, o: o, log: log}
	admin := func(pattern string, fn http.HandlerFunc) {
		mux.Handle(pattern, h.token(o.AdminToken, "admin", false, fn))
	}
	admin("GET /v1/schedules", h.list)
	admin("GET /v1/schedules/{team}", h.get)
	admin("PUT /v1/schedules/{team}", h.put)
	admin("DELETE /v1/schedules/{team}", h.delete)
	mux.Handle("POST /v1/oncall", h.token(o.IngestToken, "ingest", true, h.external))
}

type handlers struct {
	s   *Service
	o   HTTPOptions
	log *slog.Logger
}

// token checks the bearer token (or, for ingest, ?token=) in constant time.
func (h *handlers) token(want, what string, query bool, next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := secret.Bearer(r)
		if !ok && query && r.URL.RawQuery != "" {
			tok, ok = r.URL.Query().Get("token"), true
		}
		if !ok || want == "" || !secret.Equal(tok, want) {
			httpjson.Error(w, http.StatusUnauthorized, "", "missing or invalid "+what+" token: send Authorization: Bearer <"+what+" token>")
			return
		}
		next(w, r)
	})
}

// view is a schedule as the API shows it: as stored, with who is on call now.
type view struct {
	Schedule
	OnCall []Shift `json:"on_call"`
}

func (h *handlers) view(c *Compiled) view {
	return view{Schedule: c.Schedule(), OnCall: c.At(h.s.opts.Now())}
}

func (h *handlers) list(w http.ResponseWriter, _ *http.Request) {
	out := []view{}
	for _, team := range h.s.scheduled() {
		if c, ok := h.s.Get(team); ok {
			out = append(out, h.view(c))
		}
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"schedules": out})
}

func (h *handlers) get(w http.ResponseWriter, r *http.Request) {
	c, ok := h.s.Get(r.PathValue("team"))
	if !ok {
		httpjson.Error(w, http.StatusNotFound, "team", "no schedule for team "+r.PathValue("team"))
		return
	}
	httpjson.Write(w, http.StatusOK, h.view(c))
}

// problemsBody is a 400 naming every problem, the first as error and field.
type problemsBody struct {
	httpjson.ErrorBody
	Errors []*FieldError `json:"errors"`
}

func (h *handlers) put(w http.ResponseWriter, r *http.Request) {
	team := r.PathValue("team")
	var sch Schedule
	if !decode(w, r, &sch, badTime) {
		return
	}
	if sch.Team == "" {
		sch.Team = team
	}
	if sch.Team != team {
		httpjson.Error(w, http.StatusBadRequest, "team", "the body's team ("+sch.Team+") is not the path's ("+team+")")
		return
	}
	changed, err := h.s.Put(r.Context(), sch)
	if probs := Problems(err); len(probs) > 0 {
		httpjson.Write(w, http.StatusBadRequest, problemsBody{ErrorBody: httpjson.ErrorBody{Error: probs[0].Msg, Field: probs[0].Field}, Errors: probs})
		return
	}
	if err != nil {
		h.internal(w, err)
		return
	}
	h.log.Info("audit", "action", "put schedule", "by", "admin token", "remote", r.RemoteAddr, "team", team, "changed", changed)
	c, _ := h.s.Get(team)
	httpjson.Write(w, http.StatusOK, struct {
		view
		Changed bool `json:"changed"`
	}{h.view(c), changed})
}

func (h *handlers) delete(w http.ResponseWriter, r *http.Request) {
	team := r.PathValue("team")
	err := h.s.Delete(r.Context(), team)
	switch {
	case errors.Is(err, ErrNotFound):
		httpjson.Error(w, http.StatusNotFound, "team", "no schedule for team "+team)
	case err != nil:
		h.internal(w, err)
	default:
		h.log.Info("audit", "action", "delete schedule", "by", "admin token", "remote", r.RemoteAddr, "team", team)
		w.WriteHeader(http.StatusNoContent)
	}
}

func (h *handlers) external(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxExternalBody))
	if err != nil {
		httpjson.Error(w, http.StatusRequestEntityTooLarge, "", "body over 64 KiB")
		return
	}
	c, err := DecodeExternal(body)
	var fe *FieldError
	if errors.As(err, &fe) {
		httpjson.Error(w, http.StatusBadRequest, fe.Field, fe.Msg)
		return
	}
	changed, err := h.s.External(r.Context(), c)
	var ut *UnknownTeamError
	switch {
	case errors.As(err, &ut):
		field := "ONCALL.TEAM_NAME"
		var raw map[string]json.RawMessage
		if json.Unmarshal(body, &raw) == nil {
			field = fieldOf(raw, 0)
		}
		httpjson.Error(w, http.StatusUnprocessableEntity, field, ut.Error())
		return
	case err != nil:
		h.internal(w, err)
		return
	}
	httpjson.Write(w, http.StatusAccepted, struct {
		ExternalChange
		Changed bool `json:"changed"`
	}{c, changed})
}

func (h *handlers) internal(w http.ResponseWriter, err error) {
	h.log.Error("on-call request failed", "err", err)
	httpjson.Error(w, http.StatusInternalServerError, "", "internal error; see the server log")
}

// badTime names the first start or end in a schedule body that is not an
// RFC 3339 time ("rotations[0].start"), for the 400 of a body whose decode
// failed on one; "" if none is.
func badTime(body []byte) string {
	var raw struct {
		Rotations []map[string]json.RawMessage `json:"rotations"`
		Overrides []map[string]json.RawMessage `json:"overrides"`
	}
	if json.Unmarshal(body, &raw) != nil {
		return ""
	}
	for _, list := range []struct {
		name  string
		items []map[string]json.RawMessage
	}{{"rotations", raw.Rotations}, {"overrides", raw.Overrides}} {
		for i, item := range list.items {
			for _, key := range []string{"start", "end"} {
				v, ok := item[key]
				if !ok {
					continue
				}
				var t time.Time
				if json.Unmarshal(v, &t) != nil {
					return fmt.Sprintf("%s[%d].%s", list.name, i, key)
				}
			}
		}
	}
	return ""
}

// decode reads a JSON body into v; fieldOf, if set, names the field of an
// error the decoder does not.
func decode(w http.ResponseWriter, r *http.Request, v any, fieldOf func(body []byte) string) bool {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		httpjson.Error(w, http.StatusUnsupportedMediaType, "", "Content-Type must be application/json")
		return false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		httpjson.Error(w, http.StatusRequestEntityTooLarge, "", "body over 1 MiB")
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err = dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("more than one JSON value in the body")
	}
	if err == nil {
		return true
	}
	var te *json.UnmarshalTypeError
	var pe *time.ParseError
	switch {
	case errors.Is(err, io.EOF):
		httpjson.Error(w, http.StatusBadRequest, "", "empty body: send JSON")
	case errors.As(err, &te):
		httpjson.Error(w, http.StatusBadRequest, te.Field, "invalid JSON: "+err.Error())
	case errors.As(err, &pe) && fieldOf != nil:
		httpjson.Error(w, http.StatusBadRequest, fieldOf(body), "expected a time with its UTC offset, such as 2026-11-30T09:00:00+01:00: "+err.Error())
	default:
		field := ""
		if s, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			field = strings.Trim(s, `"`)
		}
		httpjson.Error(w, http.StatusBadRequest, field, "invalid JSON: "+err.Error())
	}
	return false
}
