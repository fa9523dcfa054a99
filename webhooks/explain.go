package webhooks

import (
	"net/url"
	"strings"
	"time"

	"github.com/sitrep/sitrep/routing"
	"github.com/sitrep/sitrep/secret"
	"github.com/sitrep/sitrep/timeline"
)

// minCredential is the shortest value ExplainInto hides as a credential.
const minCredential = 8

// ExplainInto adds Explain's webhook section to ex, the routes' explanation
// of the same alert, and hides everywhere in ex the values the webhooks would
// carry in their URLs' queries and secret-looking headers: an alert field
// a rule set to a receiver's key (seed 000's StatusHubfield) looks like any
// other field, but it is a credential once a URL carries it.
func (s *Set) ExplainInto(ex *routing.Explanation, fields map[string]string, now time.Time) {
	ex.Webhooks = s.Explain(fields, now)
	hide := s.credentials(fields, now)
	if len(hide) == 0 {
		return
	}
	redact := func(v string) string {
		for _, c := range hide {
			v = strings.ReplaceAll(v, c, secret.Redact(c))
		}
		return v
	}
	redactMap := func(m map[string]string) {
		for k, v := range m {
			m[k] = redact(v)
		}
	}
	redactMap(ex.Alert)
	redactMap(ex.Fields)
	for i := range ex.Rules {
		tr := &ex.Rules[i]
		redactMap(tr.Set)
		tr.Reason, tr.Message = redact(tr.Reason), redact(tr.Message)
		for j := range tr.Skipped {
			tr.Skipped[j].Reason = redact(tr.Skipped[j].Reason)
		}
	}
	for i := range ex.Destinations {
		ex.Destinations[i].Message = redact(ex.Destinations[i].Message)
	}
}

// credentials are the values, of at least minCredential bytes, that the
// webhooks a new incident of the alert fires would carry in their URL
// queries and secret-looking headers.
func (s *Set) credentials(fields map[string]string, now time.Time) []string {
	var out []string
	vars := explainVars(fields, now, s.opts.PublicURL)
	for _, i := range s.byKind[timeline.KindTriggered] {
		req, _, _ := s.hooks[i].render(vars)
		if _, query, ok := strings.Cut(req.URL, "?"); ok {
			q, _ := url.ParseQuery(query)
			for _, vs := range q {
				for _, v := range vs {
					if len(v) >= minCredential {
						out = append(out, v)
					}
				}
			}
		}
		for k, v := range req.Headers {
			if len(v) >= minCredential && redactHeader(k, v) != v {
				out = append(out, v)
			}
		}
	}
	return out
}

// explainVars are the variables of a would-be new incident (number 0) of an
// alert with fields.
func explainVars(fields map[string]string, now time.Time, publicURL string) *routing.Vars {
	entity := fields[timeline.FieldEntityID]
	title := fields[timeline.FieldEntityDisplayName]
	if title == "" {
		title = entity
	}
	inc := &timeline.Incident{EntityID: entity, Title: title, State: timeline.StateTriggered, Fields: fields, OpenedAt: now}
	ev := &timeline.Event{Kind: timeline.KindTriggered, Fields: fields, Time: now}
	return incidentVars(inc, ev, publicURL, func() int { return 1 })
}

// Explain says which webhooks a new incident of an alert would fire (those
// of Incident-Triggered and Any-Incident) and with what URL, redacted
// (RedactURL); for the others, why not. fields are the alert's fields after
// routing (routing.Decision.Fields). The would-be incident is number 0.
func (s *Set) Explain(fields map[string]string, now time.Time) []routing.WebhookTrace {
	idx := s.byKind[timeline.KindTriggered]
	if len(idx) == 0 {
		return nil
	}
	vars := explainVars(fields, now, s.opts.PublicURL)
	out := make([]routing.WebhookTrace, 0, len(idx))
	for _, i := range idx {
		h := &s.hooks[i]
		tr := routing.WebhookTrace{Name: h.Name, Event: h.event}
		req, missing, refused := h.render(vars)
		switch {
		case refused != "":
			tr.Reason = refused
		case len(missing) > 0:
			word := "field "
			if len(missing) > 1 {
				word = "fields "
			}
			tr.Reason = "template names unset " + word + strings.Join(missing, ", ")
		default:
			tr.Fires, tr.Method, tr.URL = true, req.Method, RedactURL(req.URL)
		}
		out = append(out, tr)
	}
	return out
}
