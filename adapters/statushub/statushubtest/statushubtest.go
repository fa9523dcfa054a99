// Package statushubtest is a fake StatusHub for tests: one Generic Hook v2
// URL per service, every request body validated against the schemas of
// StatusHub's Generic Hook v2 guide (incident.schema.json,
// maintenance.schema.json, copied verbatim), and the rules for "resolved"
// enforced per incident id: it is never the first update, and nothing comes
// after it. A request that breaks them is answered 422 with the reason and
// recorded as a violation. It answers 429 (with Retry-After) or 5xx on demand.
package statushubtest

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/sitrep/sitrep/adapters/statushub"
	"github.com/sitrep/sitrep/statuspage"
)

//go:embed incident.schema.json
var incidentSchema string

//go:embed maintenance.schema.json
var maintenanceSchema string

// Update is one accepted request.
type Update struct {
	Service  string
	Body     json.RawMessage
	Incident statushub.Incident
}

// Server is the fake.
type Server struct {
	*httptest.Server
	incident, maintenance *jsonschema.Schema

	mu         sync.Mutex
	tokens     map[string]string // token → service
	updates    []Update
	violations []string
	watchers   []chan Update
	resolved   map[string]bool // service/id → resolved
	seen       map[string]bool // service/id → had an update
	fail       []failure
}

type failure struct {
	code       int
	retryAfter string
	body       string
}

// New starts a fake StatusHub, closed when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{tokens: map[string]string{}, resolved: map[string]bool{}, seen: map[string]bool{}}
	s.incident = compile(t, "incident.schema.json", incidentSchema)
	s.maintenance = compile(t, "maintenance.schema.json", maintenanceSchema)
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func compile(t testing.TB, name, schema string) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(schema))
	if err != nil {
		t.Fatalf("statushubtest: schema %s: %v", name, err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(name, doc); err != nil {
		t.Fatalf("statushubtest: schema %s: %v", name, err)
	}
	sch, err := c.Compile(name)
	if err != nil {
		t.Fatalf("statushubtest: schema %s: %v", name, err)
	}
	return sch
}

// HookURL is the Generic Hook v2 URL of service (created on first use).
func (s *Server) HookURL(service string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	token := "tok" + fmt.Sprintf("%016x", len(s.tokens)+1) + service
	for tok, svc := range s.tokens {
		if svc == service {
			token = tok
		}
	}
	s.tokens[token] = service
	return s.URL + "/hooks/generic_v2?token=" + token
}

// Fail makes the next n requests answer code (with Retry-After for a 429) and body.
func (s *Server) Fail(n, code int, retryAfter, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.fail = append(s.fail, failure{code, retryAfter, body})
	}
}

// Updates lists the accepted updates of service, oldest first.
func (s *Server) Updates(service string) []Update {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Update
	for _, u := range s.updates {
		if u.Service == service {
			out = append(out, u)
		}
	}
	return out
}

// Watch returns a channel that receives every update accepted from now on
// (up to 1024 unread; more are dropped from the channel, not from Updates).
func (s *Server) Watch() <-chan Update {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := make(chan Update, 1024)
	s.watchers = append(s.watchers, c)
	return c
}

// Violations lists every request the fake refused as breaking the hook's rules.
func (s *Server) Violations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.violations...)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	refuse := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		s.violations = append(s.violations, msg)
		http.Error(w, msg, http.StatusUnprocessableEntity)
	}
	if r.Method != http.MethodPost || r.URL.Path != "/hooks/generic_v2" {
		http.NotFound(w, r)
		return
	}
	service, ok := s.tokens[r.URL.Query().Get("token")]
	if !ok {
		http.Error(w, "unknown token", http.StatusNotFound)
		return
	}
	if len(s.fail) > 0 {
		f := s.fail[0]
		s.fail = s.fail[1:]
		if f.retryAfter != "" {
			w.Header().Set("Retry-After", f.retryAfter)
		}
		http.Error(w, f.body, f.code)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		refuse("Content-Type %q: expected application/json", ct)
		return
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		refuse("body is not JSON: %v", err)
		return
	}
	var u statushub.Incident
	_ = json.Unmarshal(body, &u)
	sch := s.incident
	if u.Type == "maintenance" {
		sch = s.maintenance
	}
	if err := sch.Validate(inst); err != nil {
		refuse("schema: %v", err)
		return
	}
	if u.Type != "maintenance" && u.ID != "" {
		key := service + "/" + u.ID
		switch {
		case s.resolved[key]:
			refuse("incident %s on %s is resolved: nothing may follow", u.ID, service)
			return
		case !s.seen[key] && u.State == statuspage.Resolved:
			refuse("incident %s on %s: resolved cannot be the first update", u.ID, service)
			return
		}
		s.seen[key] = true
		s.resolved[key] = u.State == statuspage.Resolved
	}
	s.updates = append(s.updates, Update{Service: service, Body: body, Incident: u})
	for _, c := range s.watchers {
		select {
		case c <- s.updates[len(s.updates)-1]:
		default:
		}
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(`{"ok":true}`))
}
