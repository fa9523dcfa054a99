// Package hipchatapi is sitrep's HipChat-compatible server API: it serves
// HipChat Server's v2 "send room notification" method,
// POST /v2/room/{id_or_name}/notification, so that scripts, CI jobs and
// alert webhooks written for HipChat (such as the multi-room outgoing webhook
// that posts to .../v2/room/${{ALERT.room_id}}/notification) keep working
// once their rooms live in sitrep, on any platform.
//
// A room is found by HipChat room number (a hipchat room's ID, or any room's
// hipchat_ids) and then by sitrep room name. The token is HipChat's:
// ?auth_token= or "Authorization: Bearer", either the ingest token or the
// room's own notify_token. Requests are validated and defaulted as HipChat
// did, errors have HipChat's shape, and 30 notices a minute per room pass
// flood control. Each validated notice goes to a Sink; the reply is a 204 only
// once the Sink says the notice is durable.
package hipchatapi

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/sitrep/sitrep/httpjson"
	"github.com/sitrep/sitrep/rooms"
	"github.com/sitrep/sitrep/secret"
)

// Path is the pattern the server registers.
const Path = "POST /v2/room/{room}/notification"

// Adapter names a notice's origin on the timelines it lands on.
const Adapter = "hipchat-api"

// MaxBody is the largest request body taken, in bytes.
const MaxBody = 256 << 10

// Flood control defaults, HipChat's: 30 notices a minute per room.
const (
	DefaultFloodLimit = 30
	DefaultFloodPer   = time.Minute
)

// Sink takes each validated notice for a room. Notice must return nil only
// once the notice is durable (committed to storage); the server answers 204
// only after that, and 503 when it returns an error.
type Sink interface {
	Notice(ctx context.Context, room rooms.Room, n Notice) error
}

// Rooms finds sitrep's rooms; *rooms.Store is one.
type Rooms interface {
	ByHipChatID(id string) (string, bool)
	Get(name string) (rooms.Room, bool)
}

// Options configure a Server.
type Options struct {
	IngestToken string // good for every room
	Rooms       Rooms
	Sink        Sink
	Logger      *slog.Logger     // default slog.Default()
	Now         func() time.Time // default time.Now
	FloodLimit  int              // notices per FloodPer per room; default DefaultFloodLimit
	FloodPer    time.Duration    // default DefaultFloodPer
}

// Server serves the HipChat-compatible API.
type Server struct {
	opts  Options
	log   *slog.Logger
	flood flood
}

// New returns a Server.
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.FloodLimit <= 0 {
		opts.FloodLimit = DefaultFloodLimit
	}
	if opts.FloodPer <= 0 {
		opts.FloodPer = DefaultFloodPer
	}
	return &Server{opts: opts, log: opts.Logger,
		flood: flood{limit: opts.FloodLimit, per: opts.FloodPer, rooms: map[string]window{}}}
}

// Register adds the endpoint to mux.
func (s *Server) Register(mux *http.ServeMux) { mux.HandleFunc(Path, s.notification) }

// Error is HipChat's error, sent as {"error": {...}}.
type Error struct {
	Code       int    `json:"code"`
	Type       string `json:"type"`
	Message    string `json:"message"`
	Field      string `json:"field,omitempty"`
	Validation string `json:"validation,omitempty"`
}

func (e *Error) Error() string { return e.Message }

// send writes e as HipChat did, its type the status text of its code.
func (e *Error) send(w http.ResponseWriter) {
	if e.Type == "" {
		e.Type = http.StatusText(e.Code)
	}
	if e.Code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="sitrep"`)
	}
	httpjson.Write(w, e.Code, map[string]*Error{"error": e})
}

// authTestReply is HipChat's answer to auth_test=true with a good token.
type authTestReply struct {
	Success struct {
		Code    int    `json:"code"`
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"success"`
}

func (s *Server) notification(w http.ResponseWriter, r *http.Request) {
	room, e := s.authorize(r)
	if e != nil {
		e.send(w)
		return
	}
	if r.URL.Query().Get("auth_test") == "true" {
		var rep authTestReply
		rep.Success.Code, rep.Success.Type = http.StatusAccepted, "Accepted"
		rep.Success.Message = "This auth_token has access to use this method."
		httpjson.Write(w, http.StatusAccepted, rep)
		return
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		(&Error{Code: 400, Message: "The request's Content-Type must be application/json"}).send(w)
		return
	}
	var body bytes.Buffer
	if _, err := body.ReadFrom(io.LimitReader(r.Body, MaxBody+1)); err != nil {
		(&Error{Code: 400, Message: "The request body could not be read"}).send(w)
		return
	}
	if body.Len() > MaxBody {
		(&Error{Code: http.StatusRequestEntityTooLarge, Message: "The request body is larger than 256 KiB"}).send(w)
		return
	}
	n, e := Decode(body.Bytes(), s.opts.Now())
	if e != nil {
		e.send(w)
		return
	}
	remaining, reset, ok := s.flood.take(room.Name, s.opts.Now())
	h := w.Header()
	h.Set("X-FloodControl-Limit", strconv.Itoa(s.opts.FloodLimit))
	h.Set("X-FloodControl-Remaining", strconv.Itoa(remaining))
	h.Set("X-FloodControl-Reset", strconv.FormatInt(reset.Unix(), 10))
	if !ok {
		h.Set("Retry-After", strconv.Itoa(max(1, int(reset.Sub(s.opts.Now()).Seconds()+0.999))))
		(&Error{Code: http.StatusTooManyRequests, Message: "You have exceeded the flood control limit of " +
			strconv.Itoa(s.opts.FloodLimit) + " notifications per room in " + s.opts.FloodPer.String()}).send(w)
		return
	}
	if err := s.opts.Sink.Notice(r.Context(), room, n); err != nil {
		if !errors.Is(err, context.Canceled) {
			s.log.Error("notice not stored", "room", room.Name, "err", err)
		}
		(&Error{Code: http.StatusServiceUnavailable, Message: "The notification was not stored; retry"}).send(w)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// authorize finds the room the URL names and checks the token for it: the
// ingest token is good for every room, a room's notify_token for that room
// only. An unknown room is a 404 only to a caller with the ingest token; to
// anyone else it is a 401, so a wrong token learns nothing of which rooms exist.
func (s *Server) authorize(r *http.Request) (rooms.Room, *Error) {
	var tok string
	if r.Header.Get("Authorization") != "" { // a header, if sent, is the one that counts
		tok, _ = secret.Bearer(r)
	} else {
		tok = r.URL.Query().Get("auth_token")
	}
	ingest := secret.Equal(tok, s.opts.IngestToken)
	seg := r.PathValue("room") // already URL-decoded
	room, found := s.lookup(seg)
	switch {
	case found && (ingest || secret.Equal(tok, room.NotifyToken)):
		return room, nil
	case !found && ingest:
		return rooms.Room{}, &Error{Code: http.StatusNotFound, Message: "Room not found"}
	}
	return rooms.Room{}, &Error{Code: http.StatusUnauthorized,
		Message: "Invalid OAuth session: send the ingest token or the room's notify_token as ?auth_token= or \"Authorization: Bearer\""}
}

// lookup finds a room by HipChat room number, then by sitrep room name.
func (s *Server) lookup(seg string) (rooms.Room, bool) {
	if name, ok := s.opts.Rooms.ByHipChatID(seg); ok {
		if room, ok := s.opts.Rooms.Get(name); ok {
			return room, true
		}
	}
	return s.opts.Rooms.Get(seg)
}

// flood is HipChat's flood control: a fixed window per room, starting at
// the room's first notice after the last window ended.
type flood struct {
	limit int
	per   time.Duration
	mu    sync.Mutex
	rooms map[string]window // only rooms that exist get here, so it stays small
}

type window struct {
	start time.Time
	count int
}

// take counts one notice for room, unless the room is over its limit; it
// returns what is left of the window and when the window ends.
func (f *flood) take(room string, now time.Time) (remaining int, reset time.Time, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w := f.rooms[room]
	if w.start.IsZero() || !now.Before(w.start.Add(f.per)) {
		w = window{start: now}
	}
	reset = w.start.Add(f.per)
	if w.count >= f.limit {
		return 0, reset, false
	}
	w.count++
	f.rooms[room] = w
	return f.limit - w.count, reset, true
}
