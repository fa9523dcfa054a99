// Package hipchattest is a fake HipChat v2 server for tests: it takes room
// notifications, checks them the way HipChat does, enforces HipChat's rate
// limits, and records what each room got.
//
// # Rate limits
//
// HipChat's v2 API documentation ("HipChat REST API rate limits",
// https://developer.atlassian.com/server/hipchat/hipchat-rest-api-rate-limits/,
// last updated 2017-12-08) gives two limits, both answered with 429:
//
//   - 500 API requests per 5 minutes per token, reported on every response as
//     X-Ratelimit-Limit (requests allowed per 5 minutes),
//     X-Ratelimit-Remaining (requests left before the limit) and
//     X-Ratelimit-Reset ("the next time (as a Unix timestamp) the limit will
//     be updated");
//   - 30 messages per minute per room ("flood control", each room or person
//     on its own), reported as X-FloodControl-Limit, X-FloodControl-Remaining
//     and X-FloodControl-Reset, with the same meanings.
//
// The documentation does not say how the window moves. The fake enforces
// each limit as a token bucket (burst the whole limit, one request back every
// per/limit), the model sitrep's outbox paces by, and names as Reset the
// Unix second, rounded up, at which Remaining next grows: on a 429, the
// first moment a retry can succeed. Neither 429 carries Retry-After; HipChat's
// documentation names none. New takes the real limits unless told otherwise
// (WithFloodControl, WithRateLimit).
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

// HipChat's limits (see the package documentation).
const (
	FloodControlLimit = 30          // notifications per room
	FloodControlPer   = time.Minute // in this long
	RateLimit         = 500         // API requests per token
	RateLimitPer      = 5 * time.Minute
)

// Server is a fake HipChat server. Its methods are safe for concurrent use.
type Server struct {
	srv *httptest.Server

	mu       sync.Mutex
	rooms    map[string]string // room id -> its token
	messages map[string][]Notification
	flood    limiter // per room: notifications accepted
	rate     limiter // per token: every authenticated request
	n429     int
	failN    int
	failCode int
	now      func() time.Time
	addon    addonState // add-on installs (addon.go)
}

// Option configures a Server made by New.
type Option func(*Server)

// WithFloodControl allows each room n notifications per per (HipChat: 30 a
// minute) instead; n <= 0 turns flood control off.
func WithFloodControl(n int, per time.Duration) Option {
	return func(s *Server) { s.flood = newLimiter(n, per) }
}

// WithRateLimit allows each token n requests per per (HipChat: 500 per 5
// minutes) instead; n <= 0 turns the limit off.
func WithRateLimit(n int, per time.Duration) Option {
	return func(s *Server) { s.rate = newLimiter(n, per) }
}

// WithClock makes the server read the time from now (default time.Now): for
// its limits, its Reset headers and Notification.At.
func WithClock(now func() time.Time) Option {
	return func(s *Server) { s.now = now }
}

// New starts a fake HipChat server with HipChat's limits, closed when t ends.
func New(t testing.TB, opts ...Option) *Server {
	s := &Server{
		rooms:    map[string]string{},
		messages: map[string][]Notification{},
		flood:    newLimiter(FloodControlLimit, FloodControlPer),
		rate:     newLimiter(RateLimit, RateLimitPer),
		now:      time.Now,
	}
	for _, o := range opts {
		o(s)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", s.serve)
	mux.HandleFunc("POST "+TokenPath, s.serveToken)
	mux.HandleFunc("GET "+TokenPath+"/{token}", s.serveSession)
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

// SetLimit changes flood control as WithFloodControl does, with every room's
// allowance full again: at most perRoom notifications per per; perRoom <= 0
// turns it off.
func (s *Server) SetLimit(perRoom int, per time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flood = newLimiter(perRoom, per)
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
	now := s.now()
	if !s.rate.take(w.Header(), "X-Ratelimit-", token, now) {
		s.n429++
		apiError(w, http.StatusTooManyRequests, "", "You have exceeded the rate limit. See https://www.hipchat.com/docs/apiv2/rate_limiting")
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
	if !s.flood.take(w.Header(), "X-FloodControl-", room, now) {
		s.n429++
		apiError(w, http.StatusTooManyRequests, "", "You have exceeded the flood control limit for this room. See https://www.hipchat.com/docs/apiv2/rate_limiting")
		return
	}
	n.Token = token
	n.At = now
	s.messages[room] = append(s.messages[room], n)
	w.WriteHeader(http.StatusNoContent)
}

// limiter is a token bucket per key (a room, a token) kept as the
// theoretical arrival time of the next request (GCRA): burst n, one request
// back every per/n. Zero n means no limit.
type limiter struct {
	n        int
	interval time.Duration
	tat      map[string]time.Time
}

func newLimiter(n int, per time.Duration) limiter {
	if n <= 0 || per <= 0 {
		return limiter{}
	}
	return limiter{n: n, interval: per / time.Duration(n), tat: map[string]time.Time{}}
}

// take spends one of key's requests at now if it has one left, and sets
// prefix+"Limit", "Remaining" and "Reset" on h either way; false means
// refused (429).
func (l limiter) take(h http.Header, prefix, key string, now time.Time) bool {
	if l.n <= 0 {
		return true
	}
	burst := time.Duration(l.n) * l.interval
	tat := l.tat[key]
	if tat.Before(now) {
		tat = now
	}
	ok := tat.Sub(now)+l.interval <= burst
	if ok {
		tat = tat.Add(l.interval)
		l.tat[key] = tat
	}
	// used is how many requests the bucket is short of full: ceil(debt/interval).
	debt := tat.Sub(now)
	used := int((debt + l.interval - 1) / l.interval)
	reset := now
	if used > 0 {
		// Remaining grows when the debt falls to the next lower multiple of interval.
		reset = now.Add(debt - time.Duration(used-1)*l.interval)
	}
	h.Set(prefix+"Limit", strconv.Itoa(l.n))
	h.Set(prefix+"Remaining", strconv.Itoa(max(l.n-used, 0)))
	h.Set(prefix+"Reset", strconv.FormatInt(unixCeil(reset), 10))
	return ok
}

// unixCeil is t as Unix seconds, rounded up: a client that waits until then
// is never early.
func unixCeil(t time.Time) int64 {
	sec := t.Unix()
	if t.Nanosecond() > 0 {
		sec++
	}
	return sec
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
