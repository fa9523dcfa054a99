package routing

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
)

// Options for Compile.
type Options struct {
	RoomExists   func(name string) bool // nil: any room name accepted
	DefaultRooms []string               // rooms for an alert no rule delivers to (the default route)
	StatusPage   PageCheck              // nil: any status page accepted
}

// Destination is one room an alert goes to.
type Destination struct {
	Room    string `json:"room"`
	Rule    string `json:"rule"`              // the rule that chose the room, or "default"
	Message string `json:"message,omitempty"` // the rule's rendered message ("" if the rule has none); secret-looking values redacted
}

// Decision is the outcome of routing one alert.
type Decision struct {
	Fields       map[string]string  // alert fields after all matched rules' `set` actions: the alert's own map if no set fired (it is never mutated), else a new one
	Destinations []Destination      // rooms in order, each room at most once (first rule wins)
	Default      bool               // true when no rule delivered anywhere and DefaultRooms were used
	StatusPages  []PageTarget       // status pages in rule order, from the matched rules' status_page blocks
	Escalations  []EscalationTarget // escalation steps in rule order, from the matched rules' escalate blocks
}

// DefaultRule is the Rule name of targets chosen by the default route.
const DefaultRule = "default"

// Router routes alerts by a compiled, ordered list of rules. It is immutable
// and safe for concurrent use.
type Router struct {
	rules    []Rule
	compiled []compiledRule
	defaults []string

	// The index: each rule with an equality matcher is listed under one
	// (field, value). A rule without one but with a regex matcher whose
	// matches all start with a literal prefix is listed under (field, prefix)
	// in pindex. The other rules are in scan. Lists are in rule order.
	index       map[indexKey][]int32
	indexFields []string // the fields index is keyed on
	pindex      map[indexKey][]int32
	pfields     []prefixField // the fields pindex is keyed on
	scan        []int32
}

// prefixField is a field pindex is keyed on, with the lengths of its prefixes.
type prefixField struct {
	name string
	lens []int
}

type indexKey struct{ field, value string }

type setAction struct {
	key  string
	tmpl template
}

type compiledRule struct {
	name     string
	matchers []matcher
	key      int  // the matcher the rule is indexed by, or -1
	byPrefix bool // the rule is indexed by its key matcher's regex prefix
	sets     []setAction
	rooms    []string
	msg      template
	cont     bool
	page     *compiledPage
	escalate []Escalation
	setsKey  bool // some set action writes a field the index is keyed on
}

// Compile checks and compiles rules. Its error joins a *RuleError for every
// problem found, not just the first.
func Compile(rules []Rule, opts Options) (*Router, error) {
	r := &Router{rules: cloneRules(rules), compiled: make([]compiledRule, len(rules))}
	var errs []error
	fail := func(i int, field string, err error) {
		errs = append(errs, &RuleError{Index: i, Rule: rules[i].Name, Field: field, Err: err})
	}
	names := make(map[string]int, len(rules))
	for i, rule := range rules {
		c := &r.compiled[i]
		c.name, c.cont, c.key = rule.Name, rule.Continue, -1
		if rule.Name == "" {
			fail(i, "name", errors.New("a rule needs a name"))
		} else if j, dup := names[rule.Name]; dup {
			fail(i, "name", fmt.Errorf("name %q is already used by routes[%d]", rule.Name, j))
		} else {
			names[rule.Name] = i
		}
		for j, s := range rule.Matchers {
			m, err := parseMatcher(s)
			if err != nil {
				fail(i, fmt.Sprintf("matchers[%d]", j), err)
				continue
			}
			c.matchers = append(c.matchers, m)
		}
		if len(rule.Rooms) == 0 && len(rule.Set) == 0 && rule.StatusPage == nil {
			fail(i, "rooms", errors.New("a rule must deliver to rooms, publish on a status page or set fields"))
		}
		c.page = compilePage(rule.StatusPage, opts.StatusPage, func(field string, err error) { fail(i, field, err) })
		c.escalate = compileEscalations(rule.Escalate, opts.RoomExists, func(field string, err error) { fail(i, field, err) })
		seen := make(map[string]int, len(rule.Rooms))
		for j, room := range rule.Rooms {
			field := fmt.Sprintf("rooms[%d]", j)
			switch k, dup := seen[room]; {
			case room == "":
				fail(i, field, errors.New("empty room name"))
			case dup:
				fail(i, field, fmt.Errorf("room %q is already listed as rooms[%d]", room, k))
			case opts.RoomExists != nil && !opts.RoomExists(room):
				fail(i, field, fmt.Errorf("unknown room %q", room))
			default:
				seen[room] = j
				c.rooms = append(c.rooms, room)
			}
		}
		for _, key := range slices.Sorted(maps.Keys(rule.Set)) {
			field := "set." + key
			if !validName(key) {
				fail(i, field, fmt.Errorf("%q is not a field name ([a-zA-Z_][a-zA-Z0-9_.-]*)", key))
				continue
			}
			t, err := lexTemplate(rule.Set[key], true)
			if err != nil {
				fail(i, field, err)
				continue
			}
			c.sets = append(c.sets, setAction{key: key, tmpl: t})
		}
		if rule.Message != "" {
			if len(rule.Rooms) == 0 {
				fail(i, "message", errors.New("a message needs rooms to go to"))
			}
			t, err := lexTemplate(rule.Message, true)
			if err != nil {
				fail(i, "message", err)
			}
			c.msg = t
		}
	}
	seen := map[string]bool{}
	for _, room := range opts.DefaultRooms {
		switch {
		case room == "" || seen[room]:
		case opts.RoomExists != nil && !opts.RoomExists(room):
			errs = append(errs, &RuleError{Index: -1, Rule: DefaultRule, Field: "default_room", Err: fmt.Errorf("unknown room %q", room)})
		default:
			seen[room] = true
			r.defaults = append(r.defaults, room)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	r.buildIndex()
	return r, nil
}

// buildIndex lists each rule under one of its equality matchers, preferring
// the field most rules have an equality matcher on, so Route looks up few
// fields.
func (r *Router) buildIndex() {
	count := map[string]int{}
	for i := range r.compiled {
		for _, m := range r.compiled[i].matchers {
			if m.op == opEqual {
				count[m.name]++
			}
		}
	}
	r.index = map[indexKey][]int32{}
	fields := map[string]bool{}
	plens := map[string]map[int]bool{}
	for i := range r.compiled {
		c := &r.compiled[i]
		for j, m := range c.matchers {
			if m.op == opEqual && (c.key < 0 || count[m.name] > count[c.matchers[c.key].name]) {
				c.key = j
			}
		}
		if c.key >= 0 {
			m := c.matchers[c.key]
			k := indexKey{m.name, m.value}
			r.index[k] = append(r.index[k], int32(i))
			fields[m.name] = true
			continue
		}
		for j, m := range c.matchers {
			if m.op == opRegex && m.prefix != "" && (c.key < 0 || len(m.prefix) > len(c.matchers[c.key].prefix)) {
				c.key, c.byPrefix = j, true
			}
		}
		if c.key < 0 {
			r.scan = append(r.scan, int32(i))
			continue
		}
		m := c.matchers[c.key]
		k := indexKey{m.name, m.prefix}
		if r.pindex == nil {
			r.pindex = map[indexKey][]int32{}
		}
		r.pindex[k] = append(r.pindex[k], int32(i))
		if plens[m.name] == nil {
			plens[m.name] = map[int]bool{}
		}
		plens[m.name][len(m.prefix)] = true
	}
	r.indexFields = slices.Sorted(maps.Keys(fields))
	for _, f := range slices.Sorted(maps.Keys(plens)) {
		r.pfields = append(r.pfields, prefixField{name: f, lens: slices.Sorted(maps.Keys(plens[f]))})
	}
	for i := range r.compiled {
		c := &r.compiled[i]
		for _, s := range c.sets {
			if fields[s.key] || plens[s.key] != nil {
				c.setsKey = true
			}
		}
	}
}

func cloneRules(rules []Rule) []Rule {
	out := make([]Rule, len(rules))
	for i, r := range rules {
		out[i] = r
		out[i].Matchers = slices.Clone(r.Matchers)
		out[i].Rooms = slices.Clone(r.Rooms)
		out[i].Set = maps.Clone(r.Set)
		red := r.Redacted()
		out[i].StatusPage, out[i].Escalate = red.StatusPage, red.Escalate
	}
	return out
}

// Rules returns a copy of the compiled rules.
func (r *Router) Rules() []Rule { return cloneRules(r.rules) }

// Len is the number of rules.
func (r *Router) Len() int { return len(r.rules) }

// Route decides where an alert goes. incident (may be nil) is what
// ${{INCIDENT.field}} templates read. Neither map is modified.
func (r *Router) Route(alert, incident map[string]string) Decision {
	return r.route(alert, incident, nil)
}

// cursor walks one of the index's rule lists.
type cursor []int32

// candidates yields, in rule order, the rules that can match the current
// fields: those listed under the fields' current values, and those without
// an equality matcher or a regex prefix, and the others.
type candidates struct {
	cs  []cursor
	buf [8]cursor
}

// reset starts the walk at rule from, for the fields as they are now.
func (c *candidates) reset(r *Router, fields map[string]string, from int32) {
	c.cs = c.buf[:0]
	c.add(r.scan, from)
	for _, f := range r.indexFields {
		c.add(r.index[indexKey{f, fields[f]}], from)
	}
	for _, pf := range r.pfields {
		v := fields[pf.name]
		for _, n := range pf.lens {
			if n > len(v) {
				break
			}
			c.add(r.pindex[indexKey{pf.name, v[:n]}], from)
		}
	}
}

func (c *candidates) add(l []int32, from int32) {
	if len(l) == 0 {
		return
	}
	if l[0] < from {
		l = l[sort.Search(len(l), func(i int) bool { return l[i] >= from }):]
		if len(l) == 0 {
			return
		}
	}
	c.cs = append(c.cs, l)
}

// next returns the next candidate rule, or -1 when there are none.
func (c *candidates) next() int32 {
	if len(c.cs) == 0 {
		return -1
	}
	best := 0
	for i := 1; i < len(c.cs); i++ {
		if c.cs[i][0] < c.cs[best][0] {
			best = i
		}
	}
	n := c.cs[best][0]
	if c.cs[best] = c.cs[best][1:]; len(c.cs[best]) == 0 {
		c.cs[best] = c.cs[len(c.cs)-1]
		c.cs = c.cs[:len(c.cs)-1]
	}
	return n
}

// route is Route, and with a non-nil ex also Explain: then every rule up to
// the one that stops routing is evaluated, and each is traced into ex.
func (r *Router) route(alert, incident map[string]string, ex *Explanation) Decision {
	fields := alert // copied on the first set, so the caller's map is never written
	if fields == nil {
		fields = map[string]string{}
	}
	copied := false
	d := Decision{Fields: fields}
	// v tracks what a set action copied from a secret, so a message never
	// carries a secret to a room (nor Explain shows one).
	v := &view{}
	var cand candidates
	indexed := ex == nil
	if indexed {
		cand.reset(r, fields, 0)
	}
	for i := int32(0); ; i++ {
		if indexed {
			if i = cand.next(); i < 0 {
				break
			}
		} else if int(i) >= len(r.compiled) {
			break
		}
		c := &r.compiled[i]
		var tr *RuleTrace
		if ex != nil {
			ex.Rules = append(ex.Rules, RuleTrace{Index: int(i), Name: c.name})
			tr = &ex.Rules[len(ex.Rules)-1]
		}
		if !c.match(fields, indexed, tr, v) {
			continue
		}
		changedKey := false
		for _, s := range c.sets {
			if !s.tmpl.complete(fields, incident) {
				if tr != nil {
					_, missing := s.tmpl.render(fields, incident, nil)
					tr.Skipped = append(tr.Skipped, SkippedAction{Action: "set." + s.key, Reason: unsetReason(missing)})
				}
				continue
			}
			val, _ := s.tmpl.render(fields, incident, nil)
			shown, _ := s.tmpl.render(fields, incident, v)
			shown = v.setShown(s.key, shown, val)
			if tr != nil {
				if tr.Set == nil {
					tr.Set = map[string]string{}
				}
				tr.Set[s.key] = shown
			}
			if !copied {
				fields = make(map[string]string, len(alert)+len(c.sets))
				maps.Copy(fields, alert)
				d.Fields, copied = fields, true
			}
			fields[s.key] = val
			changedKey = changedKey || c.setsKey
		}
		if len(c.rooms) > 0 {
			r.deliver(c, &d, fields, incident, tr, v)
		}
		if c.page != nil {
			d.StatusPages = append(d.StatusPages, c.page.target(c.name, fields, incident))
		}
		for k, e := range c.escalate {
			d.Escalations = append(d.Escalations, EscalationTarget{Rule: c.name, Step: k, Escalation: e})
		}
		if tr != nil {
			tr.Continue = c.cont
		}
		if !c.cont {
			if ex != nil {
				ex.StoppedBy = c.name
			}
			break
		}
		if indexed && changedKey {
			cand.reset(r, fields, i+1)
		}
	}
	if len(d.Destinations) == 0 && len(r.defaults) > 0 {
		d.Default = true
		d.Destinations = make([]Destination, len(r.defaults))
		for i, room := range r.defaults {
			d.Destinations[i] = Destination{Room: room, Rule: DefaultRule}
		}
	}
	return d
}

// match reports whether all of the rule's matchers hold. When the rule came
// from the index by an equality matcher, that matcher is known to hold and is
// skipped.
func (c *compiledRule) match(fields map[string]string, indexed bool, tr *RuleTrace, v *view) bool {
	for j := range c.matchers {
		if indexed && j == c.key && !c.byPrefix {
			continue
		}
		m := &c.matchers[j]
		val := fields[m.name]
		if m.matches(val) {
			continue
		}
		if tr != nil {
			tr.Reason = notMatchReason(m, val, fields, v)
		}
		return false
	}
	if tr != nil {
		tr.Matched = true
		tr.Reason = matchReason(c.matchers)
	}
	return true
}

// deliver adds the rule's rooms, with its rendered message, unless the
// message names an unset field.
func (r *Router) deliver(c *compiledRule, d *Decision, fields, incident map[string]string, tr *RuleTrace, v *view) {
	var msg string
	if len(c.msg.segs) > 0 {
		if !c.msg.complete(fields, incident) {
			if tr != nil {
				_, missing := c.msg.render(fields, incident, nil)
				tr.Skipped = append(tr.Skipped, SkippedAction{Action: "rooms", Reason: "message " + unsetReason(missing) + "; not delivered to " + joinRooms(c.rooms)})
			}
			return
		}
		// Rooms get the message with secrets redacted, as Explain shows it.
		msg, _ = c.msg.render(fields, incident, v)
		if tr != nil {
			tr.Message = msg
		}
	}
	for _, room := range c.rooms {
		if k := targetIndex(d.Destinations, room); k >= 0 {
			if tr != nil {
				tr.AlreadyTargeted = append(tr.AlreadyTargeted, room+" (by "+d.Destinations[k].Rule+")")
			}
			continue
		}
		d.Destinations = append(d.Destinations, Destination{Room: room, Rule: c.name, Message: msg})
		if tr != nil {
			tr.Rooms = append(tr.Rooms, room)
		}
	}
}

func targetIndex(ts []Destination, room string) int {
	for i := range ts {
		if ts[i].Room == room {
			return i
		}
	}
	return -1
}
