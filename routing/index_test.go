package routing

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// naiveRoute is the specification of Route written as plainly as possible:
// every rule in order, no index.
func naiveRoute(t testing.TB, rules []Rule, defaults []string, alert, incident map[string]string) Decision {
	fields := maps.Clone(alert)
	if fields == nil {
		fields = map[string]string{}
	}
	var targets []Destination
	for _, rule := range rules {
		ok := true
		for _, s := range rule.Matchers {
			m, err := parseMatcher(s)
			require.NoError(t, err)
			if !m.matches(fields[m.name]) {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		for _, k := range slices.Sorted(maps.Keys(rule.Set)) {
			if v, missing := Render(rule.Set[k], fields, incident); len(missing) == 0 {
				fields[k] = v
			}
		}
		msg, missing := Render(rule.Message, fields, incident)
		if len(missing) == 0 {
		rooms:
			for _, room := range rule.Rooms {
				for _, t := range targets {
					if t.Room == room {
						continue rooms
					}
				}
				targets = append(targets, Destination{Room: room, Rule: rule.Name, Message: msg})
			}
		}
		if !rule.Continue {
			break
		}
	}
	d := Decision{Fields: fields, Destinations: targets}
	if len(targets) == 0 && len(defaults) > 0 {
		d.Default = true
		d.Destinations = nil
		for _, room := range defaults {
			d.Destinations = append(d.Destinations, Destination{Room: room, Rule: DefaultRule})
		}
	}
	return d
}

var (
	propFields = []string{"routing_key", "host_name", "team", "env"}
	propValues = []string{"", "a", "b", "c", "db-1", "db-12"}
	propRooms  = []string{"ops", "payments", "db", "sre", "hooks"}
)

func randomRules(rng *rand.Rand, n int) []Rule {
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	rules := make([]Rule, n)
	for i := range rules {
		r := Rule{Name: fmt.Sprintf("r%d", i), Continue: rng.IntN(3) > 0}
		for range rng.IntN(3) {
			f, v := pick(propFields), pick(propValues)
			switch rng.IntN(6) {
			case 0, 1, 2:
				r.Matchers = append(r.Matchers, fmt.Sprintf("%s=%q", f, v))
			case 3:
				r.Matchers = append(r.Matchers, fmt.Sprintf("%s!=%q", f, v))
			case 4:
				re := []string{v + ".*", "(?i)" + v + ".*", "db-(1|12)", v + "|db-1.*", "D" + v}[rng.IntN(5)]
				r.Matchers = append(r.Matchers, fmt.Sprintf("%s=~%q", f, re))
			default:
				r.Matchers = append(r.Matchers, fmt.Sprintf("%s!~%q", f, "db-.*"))
			}
		}
		if rng.IntN(3) == 0 {
			r.Set = map[string]string{}
			for range 1 + rng.IntN(2) {
				switch rng.IntN(3) {
				case 0:
					r.Set[pick(propFields)] = pick(propValues[1:])
				case 1:
					r.Set[pick(propFields)] = "${{ALERT." + pick(propFields) + "}}"
				default:
					r.Set[pick(propFields)] = "${{INCIDENT.id}}"
				}
			}
		}
		perm := rng.Perm(len(propRooms))
		for _, j := range perm[:rng.IntN(3)] {
			r.Rooms = append(r.Rooms, propRooms[j])
		}
		if len(r.Rooms) == 0 && len(r.Set) == 0 {
			r.Rooms = []string{pick(propRooms)}
		}
		if len(r.Rooms) > 0 && rng.IntN(3) == 0 {
			r.Message = "${{ALERT." + pick(propFields) + "}} on ${{ALERT.host_name}}"
		}
		rules[i] = r
	}
	return rules
}

// TestIndexAgreesWithFullScan checks the indexed Route, and Explain's full
// scan, against the naive specification on random rules and alerts.
func TestIndexAgreesWithFullScan(t *testing.T) {
	for seed := range uint64(300) {
		rng := rand.New(rand.NewPCG(seed, 7))
		rules := randomRules(rng, 1+rng.IntN(40))
		r, err := Compile(rules, opts())
		require.NoError(t, err, "seed %d", seed)
		for range 30 {
			alert := map[string]string{}
			for _, f := range propFields {
				if rng.IntN(4) > 0 {
					alert[f] = propValues[rng.IntN(len(propValues))]
				}
			}
			var incident map[string]string
			if rng.IntN(2) == 0 {
				incident = map[string]string{"id": "42"}
			}
			want := naiveRoute(t, rules, []string{"ops"}, alert, incident)
			got := r.Route(alert, incident)
			if !assert.Equal(t, want, got, "seed %d alert %v", seed, alert) {
				return
			}
			ex := r.Explain(alert, incident)
			assert.Equal(t, want.Default, ex.Default)
			assert.Equal(t, rooms(want), rooms(Decision{Destinations: ex.Destinations}))
		}
	}
}

// benchRules builds n rules: most route one routing_key to a room, about 5%
// match host names by regex, and some continue.
func benchRules(n int) []Rule {
	rooms := []string{"ops", "payments", "db", "sre", "hooks"}
	rules := make([]Rule, n)
	for i := range rules {
		r := Rule{Name: fmt.Sprintf("rule-%d", i), Rooms: []string{rooms[i%len(rooms)]}, Continue: i%7 == 0}
		switch {
		case i%20 == 0:
			r.Matchers = []string{fmt.Sprintf(`host_name=~"db-%d.*"`, i%100)}
			r.Continue = true
		case i%13 == 0:
			r.Matchers = []string{fmt.Sprintf(`routing_key="svc-%d"`, i), `severity!="info"`}
			r.Message = "${{ALERT.entity_display_name}} on ${{ALERT.host_name}}"
		default:
			r.Matchers = []string{fmt.Sprintf(`routing_key="svc-%d"`, i)}
		}
		if i%50 == 1 {
			r.Set = map[string]string{"room_id": "room-${{ALERT.routing_key}}"}
		}
		rules[i] = r
	}
	return rules
}

func benchAlerts(n, rules int) []map[string]string {
	rng := rand.New(rand.NewPCG(1, 2))
	alerts := make([]map[string]string, n)
	for i := range alerts {
		alerts[i] = map[string]string{
			"message_type":        "CRITICAL",
			"entity_id":           fmt.Sprintf("e-%d", i),
			"entity_display_name": "Disk full",
			"routing_key":         fmt.Sprintf("svc-%d", rng.IntN(rules+rules/10)),
			"host_name":           fmt.Sprintf("db-%d", rng.IntN(2000)),
			"severity":            "critical",
		}
	}
	return alerts
}

func BenchmarkRoute10kRules(b *testing.B) {
	const nRules = 10_000
	r, err := Compile(benchRules(nRules), Options{DefaultRooms: []string{"ops"}})
	require.NoError(b, err)
	alerts := benchAlerts(1024, nRules)
	incident := map[string]string{"id": "1"}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		_ = r.Route(alerts[i%len(alerts)], incident)
		i++
	}
	b.StopTimer()

	// Latency percentiles, from timing each call separately.
	const samples = 20_000
	times := make([]time.Duration, samples)
	for j := range times {
		a := alerts[j%len(alerts)]
		start := time.Now()
		_ = r.Route(a, incident)
		times[j] = time.Since(start)
	}
	sort.Slice(times, func(x, y int) bool { return times[x] < times[y] })
	b.ReportMetric(float64(times[samples/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(times[samples*99/100].Nanoseconds()), "p99-ns")
}

func BenchmarkExplain10kRules(b *testing.B) {
	const nRules = 10_000
	r, err := Compile(benchRules(nRules), Options{DefaultRooms: []string{"ops"}})
	require.NoError(b, err)
	alerts := benchAlerts(64, nRules)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		_ = r.Explain(alerts[i%len(alerts)], nil)
		i++
	}
}
