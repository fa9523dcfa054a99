// Package hipchattest is a fake HipChat v2 server for tests: it takes room
// notifications, checks them the way HipChat does, enforces a per-room rate
// limit when asked, and records what each room got.
package hipchattest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// MaxMessage is HipChat's limit on a notification's message, in characters.
const MaxMessage = 10000

// Notification is one notification a room accepted.
type Notification struct {
	Message string
	Color   string // as sent, or HipChat's default "yellow"
	Format  string // "html" (HipChat's default) or "text"
	Notify  bool
	From    string
	Token   string // the token it came with
	At      time.Time
}

// Server is a fake HipChat server. Its methods are safe for concurrent use.
type Server struct {
	srv *httptest.Server

	mu       sync.Mutex
	rooms    map[string]string // room id -> its token
	messages map[string][]Notification
	limit    int
	per      time.Duration
	sent     map[string][]time.Time // accepted notifications per room within the window
	n429     int
	failN    int
	failCode int
	now      func() time.Time
	addon    addonState // add-on installs (addon.go)
}

// New starts a fake HipChat server, closed when t ends.
func New(t testing.TB) *Server {
	s := &Server{
		rooms:    map[string]string{},
		messages: map[string][]Notification{},
		sent:     map[string][]time.Time{},
		now:      time.Now,
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", s.serve)
	mux.HandleFunc("POST "+TokenPath, s.serveToken)
	s.srv = httptest.NewServer(mux)
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the server's base URL, for hipchat.Options.BaseURL.
func (s *Server) URL() string { return s.srv.URL }

// AddRoom creates room id (or replaces its token). Only token may notify it.
func (s *Server) AddRoom(id, token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rooms[id] = token
}

// SetLimit allows each room at most perRoom notifications in any window of
// length per (HipChat's was about 30 a minute); beyond it the server answers
// 429 with Retry-After. perRoom <= 0 turns the limit off.
func (s *Server) SetLimit(perRoom int, per time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limit, s.per = perRoom, per
	s.sent = map[string][]time.Time{}
}

// FailNext makes the next n requests fail with status (before any check),
// with a HipChat error body; a 429 also gets "Retry-After: 1" and is counted.
func (s *Server) FailNext(n int, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failN, s.failCode = n, status
}

// Messages returns the notifications room accepted, oldest first.
func (s *Server) Messages(roomID string) []Notification {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Notification(nil), s.messages[roomID]...)
}

// Count429 is how many requests got 429 Too Many Requests.
func (s *Server) Count429() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n429
}

// apiError writes HipChat's error body.
func apiError(w http.ResponseWriter, status int, field, msg string) {
	e := map[string]any{"code": status, "message": msg, "type": http.StatusText(status)}
	if field != "" {
		e["field"] = field
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": e})
}

var palette = map[string]bool{"yellow": true, "green": true, "red": true, "purple": true, "gray": true, "random": true}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()

	if s.failN > 0 {
		s.failN--
		if s.failCode == http.StatusTooManyRequests {
			s.n429++
			w.Header().Set("Retry-After", "1")
		}
		apiError(w, s.failCode, "", "injected failure")
		return
	}
	room, ok := strings.CutPrefix(r.URL.EscapedPath(), "/v2/room/")
	room, ok2 := strings.CutSuffix(room, "/notification")
	if !ok || !ok2 || room == "" || strings.Contains(room, "/") {
		apiError(w, http.StatusNotFound, "", "Not found: "+r.URL.Path)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		apiError(w, http.StatusMethodNotAllowed, "", "Method not allowed")
		return
	}
	if u, err := url.PathUnescape(room); err == nil {
		room = u
	}
	token := r.URL.Query().Get("auth_token")
	if h := r.Header.Get("Authorization"); h != "" {
		bearer, ok := strings.CutPrefix(h, "Bearer ")
		if !ok {
			apiError(w, http.StatusUnauthorized, "", "Invalid Authorization header")
			return
		}
		token = strings.TrimSpace(bearer)
	}
	if token == "" {
		apiError(w, http.StatusUnauthorized, "", "Authenticated requests only. See https://www.hipchat.com/docs/apiv2/auth for more information.")
		return
	}
	want, exists := s.rooms[room]
	if !exists {
		if !s.knownToken(token) {
			apiError(w, http.StatusUnauthorized, "", "Invalid OAuth session")
			return
		}
		apiError(w, http.StatusNotFound, "", "Room not found")
		return
	}
	if token != want {
		apiError(w, http.StatusUnauthorized, "", "Invalid OAuth session")
		return
	}
	if ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || ct != "application/json" {
		apiError(w, http.StatusBadRequest, "", "Content-Type must be application/json")
		return
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		apiError(w, http.StatusRequestEntityTooLarge, "", "Request body too large")
		return
	}
	n, field, msg := parse(raw)
	if field != "" {
		apiError(w, http.StatusBadRequest, field, msg)
		return
	}
	now := s.now()
	if s.limit > 0 {
		kept := s.sent[room][:0]
		for _, at := range s.sent[room] {
			if now.Sub(at) < s.per {
				kept = append(kept, at)
			}
		}
		s.sent[room] = kept
		reset := now.Add(s.per)
		if len(kept) > 0 {
			reset = kept[0].Add(s.per)
		}
		w.Header().Set("X-Ratelimit-Limit", strconv.Itoa(s.limit))
		w.Header().Set("X-Ratelimit-Reset", strconv.FormatInt(reset.Unix(), 10))
		if len(kept) >= s.limit {
			s.n429++
			secs := int64((reset.Sub(now) + time.Second - 1) / time.Second)
			w.Header().Set("Retry-After", strconv.FormatInt(max(secs, 1), 10))
			w.Header().Set("X-Ratelimit-Remaining", "0")
			apiError(w, http.StatusTooManyRequests, "", "You have exceeded the rate limit. See https://www.hipchat.com/docs/apiv2/rate_limiting")
			return
		}
		s.sent[room] = append(kept, now)
		w.Header().Set("X-Ratelimit-Remaining", strconv.Itoa(s.limit-len(kept)-1))
	}
	n.Token = token
	n.At = now
	s.messages[room] = append(s.messages[room], n)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) knownToken(tok string) bool {
	for _, t := range s.rooms {
		if t == tok {
			return true
		}
	}
	return false
}

// parse checks a notification body as HipChat does and returns the field at
// fault, if any, with the error message.
func parse(raw []byte) (n Notification, field, msg string) {
	var m map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&m); err != nil || m == nil {
		return n, "body", "Request body must be a JSON object"
	}
	str := func(name string, dst *string) (bool, string) {
		v, ok := m[name]
		if !ok || string(v) == "null" {
			return false, ""
		}
		if err := json.Unmarshal(v, dst); err != nil {
			return true, fmt.Sprintf("%s must be a string", name)
		}
		return true, ""
	}
	var present bool
	if present, msg = str("message", &n.Message); msg != "" {
		return n, "message", msg
	}
	if !present {
		return n, "message", "Required field 'message' is missing"
	}
	switch l := utf8.RuneCountInString(n.Message); {
	case l < 1:
		return n, "message", "message must be between 1 and 10000 characters"
	case l > MaxMessage:
		return n, "message", fmt.Sprintf("message must be between 1 and 10000 characters (got %d)", l)
	}
	n.Format = "html"
	if _, msg = str("message_format", &n.Format); msg != "" {
		return n, "message_format", msg
	}
	if n.Format != "html" && n.Format != "text" {
		return n, "message_format", fmt.Sprintf("message_format %q is not one of html, text", n.Format)
	}
	n.Color = "yellow"
	if _, msg = str("color", &n.Color); msg != "" {
		return n, "color", msg
	}
	if !palette[n.Color] {
		return n, "color", fmt.Sprintf("color %q is not one of yellow, green, red, purple, gray, random", n.Color)
	}
	if _, msg = str("from", &n.From); msg != "" {
		return n, "from", msg
	}
	if v, ok := m["notify"]; ok && string(v) != "null" {
		if err := json.Unmarshal(v, &n.Notify); err != nil {
			return n, "notify", "notify must be a boolean"
		}
	}
	return n, "", ""
}
