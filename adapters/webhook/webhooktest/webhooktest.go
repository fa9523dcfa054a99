// Package webhooktest is a fake receiver of sitrep's outgoing webhooks: an
// in-process HTTP server that checks each request as a real receiver would,
// verifying its signature by the algorithm the README documents (written
// out here again, not borrowed from sitrep), and that answers 429 with
// Retry-After, 5xx or 4xx on demand.
package webhooktest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Request is one request the receiver accepted.
type Request struct {
	Method string
	Path   string
	Query  string // raw
	Header http.Header
	Body   []byte
}

// Answer is a reply the receiver gives instead of accepting a request.
type Answer struct {
	Status     int
	RetryAfter string // Retry-After header, for a 429
	Body       string
}

// Server is the fake receiver.
type Server struct {
	srv    *httptest.Server
	secret string // "" accepts unsigned requests
	now    func() time.Time

	mu       sync.Mutex
	accepted []Request
	answers  []Answer // given first, in order, one per request
	refused  []string // why signed requests were refused
	seen     int      // every request, refused or not
}

// Option configures a Server.
type Option func(*Server)

// WithSecret makes the receiver require requests signed with secret: a
// missing or wrong signature, or a timestamp more than five minutes off, is
// answered 401 and recorded in Refused.
func WithSecret(secret string) Option { return func(s *Server) { s.secret = secret } }

// New starts a receiver, closed when t ends.
func New(t testing.TB, opts ...Option) *Server {
	s := &Server{now: time.Now}
	for _, o := range opts {
		o(s)
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the receiver's base URL.
func (s *Server) URL() string { return s.srv.URL }

// Client is an HTTP client for it.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// Then queues answers given to the next requests, before any is accepted.
func (s *Server) Then(a ...Answer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answers = append(s.answers, a...)
}

// Accepted lists the requests accepted so far.
func (s *Server) Accepted() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.accepted...)
}

// Refused lists why signed requests were refused.
func (s *Server) Refused() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.refused...)
}

// Seen counts every request, answered or accepted.
func (s *Server) Seen() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "cannot read body", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen++
	if s.secret != "" {
		if why := s.verify(r.Header, body); why != "" {
			s.refused = append(s.refused, why)
			http.Error(w, why, http.StatusUnauthorized)
			return
		}
	}
	if len(s.answers) > 0 {
		a := s.answers[0]
		s.answers = s.answers[1:]
		if a.RetryAfter != "" {
			w.Header().Set("Retry-After", a.RetryAfter)
		}
		w.WriteHeader(a.Status)
		_, _ = io.WriteString(w, a.Body)
		return
	}
	s.accepted = append(s.accepted, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: body})
	w.WriteHeader(http.StatusNoContent)
}

// verify checks a request as the README says a receiver should: HMAC-SHA256
// with the secret over "<X-Sitrep-Timestamp>.<raw body>", hex, after "v1=",
// compared in constant time; the timestamp within five minutes.
func (s *Server) verify(h http.Header, body []byte) string {
	ts := h.Get("X-Sitrep-Timestamp")
	sig := h.Get("X-Sitrep-Signature")
	if ts == "" || sig == "" {
		return "unsigned request"
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return "bad timestamp"
	}
	if d := s.now().Sub(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return "timestamp too far off"
	}
	mac := hmac.New(sha256.New, []byte(s.secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	want := "v1=" + hex.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(want), []byte(sig)) {
		return "bad signature"
	}
	return ""
}
