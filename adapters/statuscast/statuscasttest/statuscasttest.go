// Package statuscasttest is a fake StatusCast VictorOps webhook for tests:
// it takes POST /webhook/victorops with a JSON object holding the required
// string properties monitorName and state, records the body verbatim, and
// answers 429 (with Retry-After) or 5xx on demand.
package statuscasttest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// Server is the fake.
type Server struct {
	*httptest.Server

	mu     sync.Mutex
	bodies []string
	fail   []failure
}

type failure struct {
	code       int
	retryAfter string
}

// New starts a fake StatusCast, closed when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// HookURL is the page's webhook URL.
func (s *Server) HookURL() string { return s.URL + "/webhook/victorops" }

// Fail makes the next n requests answer code (with Retry-After for a 429).
func (s *Server) Fail(n, code int, retryAfter string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.fail = append(s.fail, failure{code, retryAfter})
	}
}

// Bodies lists the accepted request bodies, verbatim, oldest first.
func (s *Server) Bodies() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.bodies...)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Method != http.MethodPost || r.URL.Path != "/webhook/victorops" {
		http.NotFound(w, r)
		return
	}
	if len(s.fail) > 0 {
		f := s.fail[0]
		s.fail = s.fail[1:]
		if f.retryAfter != "" {
			w.Header().Set("Retry-After", f.retryAfter)
		}
		http.Error(w, "unavailable", f.code)
		return
	}
	var u map[string]any
	if r.Header.Get("Content-Type") != "application/json" || json.Unmarshal(body, &u) != nil {
		http.Error(w, "expected a JSON object", http.StatusBadRequest)
		return
	}
	for _, k := range []string{"monitorName", "state"} {
		if v, ok := u[k].(string); !ok || v == "" {
			http.Error(w, k+" is required", http.StatusBadRequest)
			return
		}
	}
	s.bodies = append(s.bodies, string(body))
	w.WriteHeader(http.StatusOK)
}
