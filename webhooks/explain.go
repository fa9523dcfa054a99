package webhooks

import (
	"strings"
	"time"

	"github.com/sitrep/sitrep/routing"
	"github.com/sitrep/sitrep/timeline"
)

// Explain says which webhooks a new incident of an alert would fire (those
// of Incident-Triggered and Any-Incident) and with what URL, redacted
// (RedactURL); for the others, why not. fields are the alert's fields after
// routing (routing.Decision.Fields). The would-be incident is number 0.
func (s *Set) Explain(fields map[string]string, now time.Time) []routing.WebhookTrace {
	idx := s.byKind[timeline.KindTriggered]
	if len(idx) == 0 {
		return nil
	}
	entity := fields[timeline.FieldEntityID]
	title := fields[timeline.FieldEntityDisplayName]
	if title == "" {
		title = entity
	}
	inc := &timeline.Incident{EntityID: entity, Title: title, State: timeline.StateTriggered, Fields: fields, OpenedAt: now}
	ev := &timeline.Event{Kind: timeline.KindTriggered, Fields: fields, Time: now}
	vars := incidentVars(inc, ev, s.opts.PublicURL, func() int { return 1 })
	out := make([]routing.WebhookTrace, 0, len(idx))
	for _, i := range idx {
		h := &s.hooks[i]
		tr := routing.WebhookTrace{Name: h.Name, Event: h.event}
		req, missing := h.render(vars)
		if len(missing) > 0 {
			word := "field "
			if len(missing) > 1 {
				word = "fields "
			}
			tr.Reason = "template names unset " + word + strings.Join(missing, ", ")
		} else {
			tr.Fires, tr.Method, tr.URL = true, req.Method, RedactURL(req.URL)
		}
		out = append(out, tr)
	}
	return out
}
