package routing

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/sitrep/sitrep/secret"
)

// Explanation says how an alert was routed: what each rule did and why, and
// the final decision. Secret-looking field values (see secret.LooksSecret)
// are redacted everywhere in it, including in rendered messages and in
// values rendered from them.
type Explanation struct {
	Alert        map[string]string `json:"alert"`                  // the alert's fields as given
	Rules        []RuleTrace       `json:"rules"`                  // every rule tried, in order
	StoppedBy    string            `json:"stopped_by,omitempty"`   // the rule without continue that ended routing
	Fields       map[string]string `json:"fields"`                 // the fields after all set actions
	Destinations []Destination     `json:"targets"`                // the rooms the alert goes to
	Default      bool              `json:"default"`                // no rule delivered; the default rooms were used
	StatusPages  []PageShown       `json:"status_pages,omitempty"` // the status pages the alert is published on
	// Webhooks are the outgoing webhooks a new incident of the alert would
	// fire or not, and why; the caller that knows them appends them.
	Webhooks []WebhookTrace `json:"webhooks,omitempty"`
}

// WebhookTrace is what an outgoing webhook would do for a new incident of
// the alert.
type WebhookTrace struct {
	Name   string `json:"name"`
	Event  string `json:"event"`
	Fires  bool   `json:"fires"`
	Method string `json:"method,omitempty"`
	URL    string `json:"url,omitempty"`    // rendered, tokens redacted
	Reason string `json:"reason,omitempty"` // why it does not fire
}

// PageShown is a status page target as Explain shows it.
type PageShown struct {
	PageTarget
	// NoMonitor says the route's monitor_name names a field the alert does
	// not have: pages driven by monitors (StatusCast) do not get the alert.
	NoMonitor string `json:"no_monitor,omitempty"`
}

// RuleTrace is what one rule did.
type RuleTrace struct {
	Index           int               `json:"index"`
	Name            string            `json:"name"`
	Matched         bool              `json:"matched"`
	Reason          string            `json:"reason"`                     // why it matched or not
	Set             map[string]string `json:"set,omitempty"`              // fields its set actions wrote
	Skipped         []SkippedAction   `json:"skipped,omitempty"`          // actions that did not fire
	Rooms           []string          `json:"rooms,omitempty"`            // rooms it added
	AlreadyTargeted []string          `json:"already_targeted,omitempty"` // its rooms an earlier rule had added
	Message         string            `json:"message,omitempty"`          // its rendered message
	Continue        bool              `json:"continue,omitempty"`         // matched and let later rules be tried
}

// SkippedAction is an action of a matched rule that did not fire.
type SkippedAction struct {
	Action string `json:"action"` // "set.<field>" or "rooms"
	Reason string `json:"reason"`
}

// Explain routes the alert as Route does, evaluating every rule up to the
// one that stops routing, and says why each matched or not.
func (r *Router) Explain(alert, incident map[string]string) Explanation {
	ex := Explanation{Rules: []RuleTrace{}}
	d := r.route(alert, incident, &ex)
	ex.Default = d.Default
	ex.Alert = secret.RedactFields(alert)
	if ex.Alert == nil {
		ex.Alert = map[string]string{}
	}
	ex.Fields = make(map[string]string, len(d.Fields))
	var v view
	for _, tr := range ex.Rules {
		for k, s := range tr.Set {
			v.setShown(k, s, "")
		}
	}
	for k, val := range d.Fields {
		ex.Fields[k] = v.value(k, val)
	}
	msgs := map[string]string{}
	for _, tr := range ex.Rules {
		if tr.Matched {
			msgs[tr.Name] = tr.Message
		}
	}
	ex.Destinations = make([]Destination, len(d.Destinations))
	for i, t := range d.Destinations {
		ex.Destinations[i] = Destination{Room: t.Room, Rule: t.Rule, Message: msgs[t.Rule]}
	}
	for _, t := range d.StatusPages {
		ps := PageShown{PageTarget: t}
		if t.MonitorName == "" {
			ps.NoMonitor = fmt.Sprintf("monitor_name %s names a field the alert lacks: monitor-driven pages (StatusCast) do not get it",
				cmp.Or(t.StatusPage.MonitorName, DefaultMonitorName))
		}
		ex.StatusPages = append(ex.StatusPages, ps)
	}
	return ex
}

// view holds the values Explain shows for fields that set actions wrote:
// rendered with redacted values, so a secret copied into another field stays
// hidden.
type view struct {
	shown map[string]string
}

// setShown records what to show for a field a set action wrote and returns it.
func (v *view) setShown(key, shown, real string) string {
	if secret.Hides(key, real) && real != "" {
		shown = secret.Redact(real)
	}
	if v.shown == nil {
		v.shown = map[string]string{}
	}
	v.shown[key] = shown
	return shown
}

// value is what to show for field name whose value is real.
func (v *view) value(name, real string) string {
	if v != nil {
		if s, ok := v.shown[name]; ok {
			return s
		}
	}
	return secret.RedactField(name, real)
}

func notMatchReason(m *matcher, val string, fields map[string]string, v *view) string {
	if _, ok := fields[m.name]; !ok {
		return m.name + " is unset, so " + m.shown() + " does not hold"
	}
	shown := val
	if v != nil {
		shown = v.value(m.name, val)
	}
	return m.name + "=" + strconv.Quote(shown) + " does not match " + m.shown()
}

func matchReason(ms []matcher) string {
	if len(ms) == 0 {
		return "no matchers: matches every alert"
	}
	parts := make([]string, len(ms))
	for i := range ms {
		parts[i] = ms[i].shown()
	}
	return strings.Join(parts, ", ") + " hold"
}

func unsetReason(missing []string) string {
	if len(missing) == 1 {
		return "template names unset field " + missing[0]
	}
	return "template names unset fields " + strings.Join(missing, ", ")
}

func joinRooms(rooms []string) string { return strings.Join(rooms, ", ") }

// String gives a readable report, one block per rule tried, then the result.
func (e Explanation) String() string {
	var b strings.Builder
	if len(e.Alert) > 0 {
		fmt.Fprintf(&b, "alert: %s\n", fieldList(e.Alert))
	}
	for _, tr := range e.Rules {
		if !tr.Matched {
			fmt.Fprintf(&b, "✗ rule %d %s: no match: %s\n", tr.Index, tr.Name, tr.Reason)
			continue
		}
		fmt.Fprintf(&b, "✓ rule %d %s: matched: %s\n", tr.Index, tr.Name, tr.Reason)
		for _, k := range slices.Sorted(maps.Keys(tr.Set)) {
			fmt.Fprintf(&b, "    set %s=%q\n", k, tr.Set[k])
		}
		for _, s := range tr.Skipped {
			fmt.Fprintf(&b, "    skipped %s: %s\n", s.Action, s.Reason)
		}
		if len(tr.Rooms) > 0 {
			fmt.Fprintf(&b, "    rooms: %s\n", joinRooms(tr.Rooms))
		}
		if len(tr.AlreadyTargeted) > 0 {
			fmt.Fprintf(&b, "    already targeted: %s\n", joinRooms(tr.AlreadyTargeted))
		}
		if tr.Message != "" {
			fmt.Fprintf(&b, "    message: %q\n", tr.Message)
		}
		if tr.Continue {
			b.WriteString("    continue: later rules are tried\n")
		} else {
			b.WriteString("    stop: later rules are not tried\n")
		}
	}
	if len(e.Rules) == 0 {
		b.WriteString("no rules\n")
	}
	switch {
	case e.Default:
		b.WriteString("no rule delivered: default route\n")
	case len(e.Destinations) == 0:
		b.WriteString("no rule delivered and there is no default room: the alert goes nowhere\n")
	}
	for _, t := range e.Destinations {
		fmt.Fprintf(&b, "→ %s (rule %s)", t.Room, t.Rule)
		if t.Message != "" {
			fmt.Fprintf(&b, ": %q", t.Message)
		}
		b.WriteByte('\n')
	}
	for _, p := range e.StatusPages {
		fmt.Fprintf(&b, "→ status page %s", p.Page)
		if len(p.Services) > 0 {
			fmt.Fprintf(&b, " (%s)", strings.Join(p.Services, ", "))
		}
		fmt.Fprintf(&b, " (rule %s)", p.Rule)
		if p.Wait > 0 {
			fmt.Fprintf(&b, ", after %s", p.Wait)
		}
		if p.MonitorName != "" {
			fmt.Fprintf(&b, ", monitor %q", p.MonitorName)
		}
		if p.NoMonitor != "" {
			fmt.Fprintf(&b, ": %s", p.NoMonitor)
		}
		b.WriteByte('\n')
	}
	if !maps.Equal(e.Alert, e.Fields) {
		fmt.Fprintf(&b, "fields: %s\n", fieldList(e.Fields))
	}
	for _, w := range e.Webhooks {
		if w.Fires {
			fmt.Fprintf(&b, "⇒ webhook %s (%s): %s %s\n", w.Name, w.Event, w.Method, w.URL)
		} else {
			fmt.Fprintf(&b, "✗ webhook %s (%s): does not fire: %s\n", w.Name, w.Event, w.Reason)
		}
	}
	return b.String()
}

func fieldList(m map[string]string) string {
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + strconv.Quote(m[k])
	}
	return strings.Join(parts, " ")
}
