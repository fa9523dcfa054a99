package webhooks

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sitrep/sitrep/fanout"
	"github.com/sitrep/sitrep/routing"
	"github.com/sitrep/sitrep/secret"
	"github.com/sitrep/sitrep/timeline"
)

// Request is a rendered webhook request, as the outbox entry carries it (in
// adapters.Message.Payload) from the event's transaction to the send. It
// holds no signature: the Chat signs it when it sends it.
type Request struct {
	Hook        string            `json:"hook"`
	Event       string            `json:"event"`
	Method      string            `json:"method"`
	URL         string            `json:"url"`
	ContentType string            `json:"content_type,omitempty"` // empty when there is no body
	Headers     map[string]string `json:"headers,omitempty"`
	Body        string            `json:"body,omitempty"`
}

// DecodeRequest reads the Request an outbox entry carries.
func DecodeRequest(payload []byte) (Request, error) {
	var r Request
	if err := json.Unmarshal(payload, &r); err != nil {
		return Request{}, fmt.Errorf("decode webhook request: %w", err)
	}
	if r.Method == "" || r.URL == "" {
		return Request{}, fmt.Errorf("decode webhook request: no method or URL")
	}
	return r, nil
}

// Redacted is r as outputs show it: its URL and secret-looking headers
// redacted, and in its body every value that looks secret by its name or
// itself, or that the URL's query or a redacted header carries (which
// RedactURL hides: seed 000's key is an alert field): a JSON body's members
// at any depth, a form body's values, and those values wherever a body of
// another type holds them.
func (r Request) Redacted() Request {
	out := r
	out.URL = RedactURL(r.URL)
	out.Headers = redactHeaders(r.Headers)
	creds := map[string]bool{}
	if _, query, ok := strings.Cut(r.URL, "?"); ok {
		q, _ := url.ParseQuery(query)
		for _, vs := range q {
			for _, v := range vs {
				creds[v] = v != ""
			}
		}
	}
	for k, v := range r.Headers {
		if redactHeader(k, v) == v {
			continue
		}
		creds[v] = true
		for _, f := range strings.Fields(v) { // "Bearer <token>": the token alone
			creds[f] = len(f) >= minCredential
		}
	}
	hide := func(k, v string) bool { return secret.Hides(k, v) || creds[v] }
	var obj any
	switch {
	case r.Body == "":
	case json.Unmarshal([]byte(r.Body), &obj) == nil:
		b, _ := json.Marshal(redactJSON("", obj, hide))
		out.Body = string(b)
	case strings.HasPrefix(r.ContentType, "application/x-www-form-urlencoded"):
		if q, err := url.ParseQuery(r.Body); err == nil {
			for k, vs := range q {
				for i, v := range vs {
					if hide(k, v) {
						vs[i] = secret.Redact(v)
					}
				}
			}
			out.Body = q.Encode()
			break
		}
		fallthrough
	default:
		for v, ok := range creds {
			if ok && len(v) >= minCredential {
				out.Body = strings.ReplaceAll(out.Body, v, secret.Redact(v))
			}
		}
	}
	return out
}

// redactJSON is v with every string that hide says to hide (by its member's
// name, or itself) redacted, at any depth.
func redactJSON(name string, v any, hide func(name, v string) bool) any {
	switch x := v.(type) {
	case string:
		if hide(name, x) {
			return secret.Redact(x)
		}
	case map[string]any:
		for k, e := range x {
			x[k] = redactJSON(k, e, hide)
		}
	case []any:
		for i, e := range x {
			x[i] = redactJSON(name, e, hide)
		}
	}
	return v
}

// render renders h for vars; missing lists the unset fields its templates
// name, and refused says why a value cannot be sent (then it does not fire).
func (h *hook) render(vars *routing.Vars) (req Request, missing []string, refused string) {
	req = Request{Hook: h.Name, Event: h.event, Method: h.method}
	var m []string
	req.URL, m = h.url.Render(vars, func(rendered, v string) string {
		if (v == "." || v == "..") && !strings.ContainsAny(rendered, "?#") {
			// No escaping keeps it one segment: receivers decode %2E and
			// remove dot segments, so the request would go up the path.
			refused = fmt.Sprintf("a value of the URL's path is %q, which is not a path segment", v)
		}
		return escapeURL(rendered, v)
	})
	missing = append(missing, m...)
	for _, hd := range h.headers {
		v, m := hd.tmpl.Render(vars, escapeHeader)
		missing = append(missing, m...)
		if req.Headers == nil {
			req.Headers = map[string]string{}
		}
		req.Headers[hd.name] = v
	}
	if h.method == "GET" {
		return req, missing, refused
	}
	req.ContentType = h.contentType
	switch {
	case h.hasPayload:
		var esc routing.Escape
		switch {
		case h.json:
			esc = escapeJSON
		case h.form:
			esc = func(_, v string) string { return url.QueryEscape(v) }
		}
		req.Body, m = h.payload.Render(vars, esc)
		missing = append(missing, m...)
	default:
		req.Body = defaultBody(vars, h.form)
	}
	return req, missing, refused
}

// defaultBody is the body of a webhook without a payload: the alert's
// fields, without the secret-looking ones, as one flat JSON object (a form
// for a form content type); a chat line's or an on-call change's variables
// are added under their qualified names ("CHAT.TEXT").
func defaultBody(vars *routing.Vars, form bool) string {
	flat := map[string]string{}
	for k, v := range vars.Alert {
		if !secret.Hides(k, v) {
			flat[k] = v
		}
	}
	for prefix, m := range map[string]map[string]string{routing.ScopeChat: vars.Chat, routing.ScopeOnCall: vars.OnCall} {
		for k, v := range m {
			if !secret.Hides(k, v) {
				flat[prefix+"."+k] = v
			}
		}
	}
	if form {
		q := url.Values{}
		for k, v := range flat {
			q.Set(k, v)
		}
		return q.Encode()
	}
	b, _ := json.Marshal(flat) // a map of strings always encodes
	return string(b)
}

// escapeJSON writes a value as the content of a JSON string: a quote or a
// backslash in an alert's title cannot end the string or break the body.
func escapeJSON(_, v string) string {
	b, _ := json.Marshal(v) // a string always encodes
	return string(b[1 : len(b)-1])
}

// escapeURL escapes a value for where it lands in a URL: in the path, as one
// path segment ("a/b" cannot add a segment), after "?" or "#" as a query
// value ("&x=y" cannot add a parameter).
func escapeURL(rendered, v string) string {
	if strings.ContainsAny(rendered, "?#") {
		return url.QueryEscape(v)
	}
	return url.PathEscape(v)
}

// escapeHeader keeps a value on its header's line: control characters
// (a line break could start a header of its own) become spaces.
func escapeHeader(_, v string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\t' || r == 0x7f {
			return ' '
		}
		return r
	}, v)
}

// incidentVars are what an incident event's templates read.
func incidentVars(inc *timeline.Incident, ev *timeline.Event, publicURL string, alertCount func() int) *routing.Vars {
	v := &routing.Vars{
		Alert:    inc.Fields,
		Incident: fanout.IncidentFields(inc, publicURL),
		State:    stateVars(inc, ev, alertCount),
	}
	if ev.Kind == timeline.KindChat {
		v.Chat = chatVars(ev.Origin, ev.Text)
	}
	return v
}

// stateVars are the incident's state under Splunk On-Call's names.
func stateVars(inc *timeline.Incident, ev *timeline.Event, alertCount func() int) map[string]string {
	f := inc.Fields
	s := map[string]string{
		"INCIDENT_NAME":       strconv.FormatUint(inc.ID, 10),
		"ENTITY_ID":           inc.EntityID,
		"CURRENT_ALERT_PHASE": phase(inc.State),
		"CURRENT_STATE":       currentState(inc),
		"SERVICE":             inc.Title,
		"HOST":                f["host_name"],
		"INCIDENT_TIMESTAMP":  millis(inc.OpenedAt),
		"LAST_TIMESTAMP":      millis(ev.Time),
		"ACK_USER":            inc.AcknowledgedBy,
		"ACKED_BY":            inc.AcknowledgedBy,
		"RESOLVED_BY":         inc.ResolvedBy,
	}
	if inc.AcknowledgedAt != nil {
		s["ACK_TIMESTAMP"] = millis(*inc.AcknowledgedAt)
		s["ACKED_AT"] = millis(*inc.AcknowledgedAt)
	}
	if inc.ResolvedAt != nil {
		s["RESOLVED_AT"] = millis(*inc.ResolvedAt)
	}
	if ev.Kind == timeline.KindAcknowledged {
		s["ACK_MSG"] = ev.Text
	}
	if alertCount != nil {
		s["ALERT_COUNT"] = strconv.Itoa(alertCount())
	}
	return s
}

// chatVars are a chat line's variables.
func chatVars(o timeline.Origin, text string) map[string]string {
	return map[string]string{"USER_ID": o.User, "TEXT": text, "IS_ROBOT": "false", "ROOM": o.Room, "PLATFORM": o.Adapter}
}

// phase is Splunk On-Call's CURRENT_ALERT_PHASE for a state.
func phase(s timeline.State) string {
	switch s {
	case timeline.StateAcknowledged:
		return "ACKED"
	case timeline.StateResolved:
		return "RESOLVED"
	}
	return "UNACKED"
}

// currentState is Splunk On-Call's CURRENT_STATE: OK once resolved, else the
// alert's entity_state, else what its message_type says.
func currentState(inc *timeline.Incident) string {
	if inc.State == timeline.StateResolved {
		return "OK"
	}
	if es := inc.Fields["entity_state"]; es != "" {
		return es
	}
	switch mt, _ := timeline.ParseMessageType(inc.Fields[timeline.FieldMessageType]); mt {
	case timeline.MsgCritical, timeline.MsgWarning, timeline.MsgInfo:
		return mt
	case timeline.MsgRecovery:
		return "OK"
	}
	return timeline.MsgCritical
}

func millis(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return strconv.FormatInt(t.UnixMilli(), 10)
}

// redactHeaders is headers with secret-looking values redacted.
func redactHeaders(h map[string]string) map[string]string {
	if h == nil {
		return nil
	}
	out := make(map[string]string, len(h))
	for k, v := range h {
		out[k] = redactHeader(k, v)
	}
	return out
}

// redactHeader is a header value as outputs show it: a secret-looking one
// redacted, unless it is only placeholders (which hold no secret themselves).
func redactHeader(name, v string) string {
	if (secret.Hides(name, v) || secret.LooksSecretValue(v)) && !onlyPlaceholders(v) {
		return secret.Redact(v)
	}
	return v
}

// onlyPlaceholders reports whether v is ${{...}} placeholders and nothing
// else but spaces: a template that holds no secret of its own.
func onlyPlaceholders(v string) bool {
	t, err := routing.ParseTemplate(v, routing.ScopeAlert, routing.ScopeIncident, routing.ScopeState, routing.ScopeChat, routing.ScopeOnCall)
	if err != nil || len(t.Refs()) == 0 {
		return false
	}
	literal, _ := t.Render(&routing.Vars{}, nil)
	return strings.TrimSpace(literal) == ""
}
