// Package webhooks is sitrep's outgoing webhooks, in Splunk On-Call's terms
// so that its settings can be pasted: each webhook subscribes to one event
// (Incident-Triggered, Any-Incident, All-Chats, On-Call, ...) and has a
// method, a URL, a content type, headers and a payload, all templates over
// ${{ALERT.field}} (the alert's fields, after the routes' set actions),
// ${{STATE.NAME}} (the incident's state under Splunk On-Call's names),
// ${{INCIDENT.field}} (sitrep's incident), ${{CHAT.NAME}} and
// ${{ONCALL.NAME}}. The templates are routing's (routing.ParseTemplate): a
// template naming an unset field makes the webhook not fire for that event,
// so a rule that sets a field decides which alerts reach a webhook whose URL
// names it. An empty payload sends the alert's fields as one flat JSON
// object, without the secret-looking ones.
//
// The request is rendered when the event is recorded, with every substituted
// value escaped for where it lands (JSON string content in a JSON payload,
// path or query escaping in the URL, no line breaks in a header), and written
// to the outbox in the event's own transaction, to the outbox room
// "webhook:<name>" (RoomPrefix), marked NoDigest. The outbox hands it to a
// Chat (package adapters/webhook) that signs it at send time with the
// webhook's signing secret, looked up by name then and never stored in the
// entry (Sign), and sends it; the outbox retries 5xx, waits out 429 and
// dead-letters any other 4xx.
//
// Set.Dispatch (incident events, inside the timeline's Dispatcher),
// Set.TeamChat (a team's chat line) and Set.OnCallChange (an on-call change)
// each enqueue in the caller's transaction and return the outbox rooms to
// wake after its commit. A Set is a compiled, immutable list of webhooks; a
// Store keeps the running one in bbolt, seeded from config and replaced whole
// through the admin API after validation.
package webhooks

import (
	"errors"
	"fmt"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/http/httpguts"

	"github.com/sitrep/sitrep/routing"
	"github.com/sitrep/sitrep/timeline"
)

// Hook is one outgoing webhook as config (YAML) and the admin API (JSON)
// write it.
type Hook struct {
	Name        string `json:"name" yaml:"name"`
	Description string `json:"description,omitempty" yaml:"description,omitempty"`
	// Event is the Splunk On-Call event the webhook subscribes to (see Events).
	Event string `json:"event" yaml:"event"`
	// Method is GET, POST, PUT, PATCH or DELETE; default POST.
	Method string `json:"method,omitempty" yaml:"method,omitempty"`
	// URL is the request's URL, a template; its scheme (http or https) and
	// host are written out.
	URL string `json:"url" yaml:"url"`
	// ContentType is the request body's type; default application/json. A
	// JSON type JSON-escapes the values the payload substitutes, a form type
	// (application/x-www-form-urlencoded) form-escapes them.
	ContentType string `json:"content_type,omitempty" yaml:"content_type,omitempty"`
	// Headers are extra request headers; their values are templates.
	Headers map[string]string `json:"headers,omitempty" yaml:"headers,omitempty"`
	// Payload is the request body, a template; empty sends the alert's
	// fields as one flat JSON object (secret-looking ones left out).
	Payload string `json:"payload,omitempty" yaml:"payload,omitempty"`
	// SigningSecret, if set, signs every request (see Sign).
	SigningSecret string `json:"signing_secret,omitempty" yaml:"signing_secret,omitempty"`
}

// Event names, as Splunk On-Call names them.
const (
	IncidentTriggered    = "Incident-Triggered"
	IncidentAcknowledged = "Incident-Acknowledged"
	IncidentResolved     = "Incident-Resolved"
	AnyIncident          = "Any-Incident"
	IncidentChats        = "Incident-Chats"
	AllChats             = "All-Chats"
	OnCall               = "On-Call"
	OffCall              = "Off-Call"
	AnyOnCall            = "Any-On-Call"
	PagingStart          = "Paging-Start"
	PagingStop           = "Paging-Stop"
	AnyPaging            = "Any-Paging"
)

// Events lists the events a webhook can subscribe to.
func Events() []string {
	return []string{IncidentTriggered, IncidentAcknowledged, IncidentResolved, AnyIncident,
		IncidentChats, AllChats, OnCall, OffCall, AnyOnCall}
}

// scopes are the template scopes a webhook of event may name.
func scopes(event string) []string {
	incident := []string{routing.ScopeAlert, routing.ScopeIncident, routing.ScopeState}
	switch event {
	case IncidentChats, AllChats:
		return append(incident, routing.ScopeChat)
	case OnCall, OffCall, AnyOnCall:
		return []string{routing.ScopeOnCall}
	}
	return incident
}

// kinds are the timeline event kinds a webhook of event fires on.
func kinds(event string) []timeline.Kind {
	switch event {
	case IncidentTriggered:
		return []timeline.Kind{timeline.KindTriggered}
	case IncidentAcknowledged:
		return []timeline.Kind{timeline.KindAcknowledged}
	case IncidentResolved:
		return []timeline.Kind{timeline.KindResolved}
	case AnyIncident:
		return []timeline.Kind{timeline.KindTriggered, timeline.KindAcknowledged, timeline.KindResolved}
	case IncidentChats, AllChats:
		return []timeline.Kind{timeline.KindChat}
	}
	return nil
}

// methods are the methods a webhook may use.
func methods() []string {
	return []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}
}

// reservedHeaders are set by sitrep itself.
func reservedHeaders() []string {
	return []string{"Content-Type", "Content-Length", "Host", "Transfer-Encoding", "Connection",
		HeaderTimestamp, HeaderSignature, HeaderDelivery, HeaderEvent}
}

// MinSecret is the shortest signing secret taken, in bytes.
const MinSecret = 16

var nameRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// FieldError names the webhook (by position and name) and the field that is wrong.
type FieldError struct {
	Index int    // position in the list, from 0
	Hook  string // the webhook's name
	Field string // "url", "event", "headers.Authorization", ...
	Err   error
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("webhooks[%d] (%s): %s: %v", e.Index, e.Hook, e.Field, e.Err)
}

func (e *FieldError) Unwrap() error { return e.Err }

// FieldErrors returns each *FieldError in err, which Compile builds with
// errors.Join; nil if there is none.
func FieldErrors(err error) []*FieldError {
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	var out []*FieldError
	for _, e := range errs {
		var fe *FieldError
		if errors.As(e, &fe) {
			out = append(out, fe)
		}
	}
	return out
}

// hook is a compiled Hook.
type hook struct {
	Hook
	event       string // canonical
	method      string
	contentType string
	json, form  bool
	url         routing.Template
	headers     []header
	payload     routing.Template
	hasPayload  bool
}

type header struct {
	name string // canonical
	tmpl routing.Template
}

// compile checks h and compiles it; fail reports each problem.
func compile(h Hook, fail func(field string, err error)) hook {
	c := hook{Hook: h}
	if !nameRE.MatchString(h.Name) {
		fail("name", fmt.Errorf("%q is not a webhook name (letters, digits, '.', '_', '-'; up to 64)", h.Name))
	}
	switch i := slices.IndexFunc(Events(), func(e string) bool { return strings.EqualFold(e, h.Event) }); {
	case i >= 0:
		c.event = Events()[i]
	case strings.EqualFold(h.Event, PagingStart) || strings.EqualFold(h.Event, PagingStop) || strings.EqualFold(h.Event, AnyPaging):
		fail("event", fmt.Errorf("%s: sitrep does not page anyone, so it has no paging events", h.Event))
	case h.Event == "":
		fail("event", fmt.Errorf("required: one of %s", strings.Join(Events(), ", ")))
	default:
		fail("event", fmt.Errorf("unknown event %q: one of %s", h.Event, strings.Join(Events(), ", ")))
	}
	sc := scopes(c.event)
	c.method = strings.ToUpper(strings.TrimSpace(h.Method))
	if c.method == "" {
		c.method = http.MethodPost
	}
	if !slices.Contains(methods(), c.method) {
		fail("method", fmt.Errorf("unknown method %q: one of %s", h.Method, strings.Join(methods(), ", ")))
	}
	c.url = compileURL(h.URL, sc, func(err error) { fail("url", err) })
	c.contentType = h.ContentType
	if c.contentType == "" {
		c.contentType = "application/json"
	}
	if mt, _, err := mime.ParseMediaType(c.contentType); err != nil {
		fail("content_type", fmt.Errorf("%q is not a media type such as application/json", h.ContentType))
	} else {
		c.json = mt == "application/json" || strings.HasSuffix(mt, "+json")
		c.form = mt == "application/x-www-form-urlencoded"
	}
	for _, name := range slices.Sorted(maps.Keys(h.Headers)) {
		field := "headers." + name
		canon := http.CanonicalHeaderKey(name)
		switch {
		case !httpguts.ValidHeaderFieldName(name):
			fail(field, errors.New("not a valid header name"))
			continue
		case slices.ContainsFunc(reservedHeaders(), func(r string) bool { return strings.EqualFold(r, name) }):
			fail(field, fmt.Errorf("%s is set by sitrep (use content_type for the body's type)", canon))
			continue
		}
		t, err := routing.ParseTemplate(h.Headers[name], sc...)
		if err != nil {
			fail(field, err)
			continue
		}
		if !httpguts.ValidHeaderFieldValue(h.Headers[name]) {
			fail(field, errors.New("the value has a line break or another control character"))
			continue
		}
		c.headers = append(c.headers, header{name: canon, tmpl: t})
	}
	if h.Payload != "" {
		if c.method == http.MethodGet {
			fail("payload", errors.New("a GET request has no body: leave payload out, or use another method"))
		}
		t, err := routing.ParseTemplate(h.Payload, sc...)
		if err != nil {
			fail("payload", err)
		}
		c.payload, c.hasPayload = t, true
	}
	if h.SigningSecret != "" && len(h.SigningSecret) < MinSecret {
		fail("signing_secret", fmt.Errorf("too short: at least %d characters (openssl rand -hex 32 makes one)", MinSecret))
	}
	return c
}

// compileURL parses a URL template: its scheme and host must be written out
// (an alert's fields can pick the path and query, never the server), and it
// must be an absolute http(s) URL without credentials. No error shows the URL,
// which may hold a token.
func compileURL(raw string, sc []string, fail func(error)) routing.Template {
	switch {
	case raw == "":
		fail(errors.New("required: the http:// or https:// URL to send to"))
		return routing.Template{}
	case !utf8.ValidString(raw):
		fail(errors.New("not valid UTF-8"))
		return routing.Template{}
	}
	t, err := routing.ParseTemplate(raw, sc...)
	if err != nil {
		fail(err)
		return t
	}
	prefix := t.Prefix()
	scheme, rest, ok := strings.Cut(prefix, "://")
	if !ok || (!strings.EqualFold(scheme, "http") && !strings.EqualFold(scheme, "https")) {
		fail(errors.New("not an http:// or https:// URL"))
		return t
	}
	if !strings.ContainsAny(rest, "/?#") && len(t.Refs()) > 0 {
		fail(errors.New("the host must be written out, not a template: a placeholder may fill the path and query only"))
		return t
	}
	// Every placeholder filled in, the URL must parse.
	filled, _ := t.Render(&routing.Vars{}, nil)
	u, err := url.Parse(filled)
	switch {
	case err != nil:
		fail(errors.New("not a valid URL"))
	case u.Host == "" || u.Hostname() == "":
		fail(errors.New("no host"))
	case u.User != nil:
		fail(errors.New("must not hold credentials (user:password@): send them in a header"))
	}
	return t
}

// Options configure Compile.
type Options struct {
	// PublicURL is the base of links to incidents (${{INCIDENT.url}}).
	PublicURL string
}

// Compile checks and compiles hooks. Its error joins a *FieldError for every
// problem found, not just the first; no error shows a URL, header value or
// secret.
func Compile(hooks []Hook, opts Options) (*Set, error) {
	s := &Set{opts: opts, hooks: make([]hook, len(hooks)), byKind: map[timeline.Kind][]int{}, byName: map[string]int{}}
	var errs []error
	for i, h := range hooks {
		fail := func(field string, err error) {
			errs = append(errs, &FieldError{Index: i, Hook: h.Name, Field: field, Err: err})
		}
		s.hooks[i] = compile(h, fail)
		if j, dup := s.byName[h.Name]; dup && h.Name != "" {
			fail("name", fmt.Errorf("name %q is already used by webhooks[%d]", h.Name, j))
		} else {
			s.byName[h.Name] = i
		}
		for _, k := range kinds(s.hooks[i].event) {
			s.byKind[k] = append(s.byKind[k], i)
		}
		for _, ref := range s.hooks[i].refs() {
			if ref == "STATE.ALERT_COUNT" {
				s.countAlerts = true
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

// refs lists every field the hook's templates name.
func (h *hook) refs() []string {
	out := h.url.Refs()
	for _, hd := range h.headers {
		out = append(out, hd.tmpl.Refs()...)
	}
	return append(out, h.payload.Refs()...)
}
