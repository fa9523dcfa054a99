package bot

import (
	"crypto/rand"
	"encoding/hex"
	"slices"
	"testing"
	"time"

	"github.com/sitrep/sitrep/adapters/statushub/statushubtest"
)

// BenchmarkAlertToStatusHub measures, one alert at a time, how long an alert
// takes from being sent (its 202 included) to the fake StatusHub's receipt
// of its page incident, through routing, the page engine, the outbox and
// the hook (the page's rate limit raised, so that only latency is measured).
func BenchmarkAlertToStatusHub(b *testing.B) {
	hub := statushubtest.New(b)
	tb := startBot(b, hubConfig(newDataPath(b), hub, `rate_limits:
  statushub: {messages: 100000, per: 1s}
routes:
  - name: api
    matchers: ['service="api"']
    rooms: [ops]
    status_page: {page: public, services: [api]}
`))
	got := hub.Watch()
	var lat []time.Duration
	for b.Loop() {
		name := pageBenchID(b)
		start := time.Now()
		tb.alert(b, map[string]any{"message_type": "CRITICAL", "entity_id": name, "entity_display_name": name, "service": "api"})
		for u := range got {
			if u.Incident.Title == name {
				break
			}
		}
		lat = append(lat, time.Since(start))
	}
	if v := hub.Violations(); len(v) > 0 {
		b.Fatalf("the fake refused updates: %v", v)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// pageBenchID is a random 16-hex entity ID, shaped like an Alertmanager fingerprint.
func pageBenchID(b testing.TB) string {
	var buf [8]byte
	if _, err := rand.Read(buf[:]); err != nil {
		b.Fatal(err)
	}
	return hex.EncodeToString(buf[:])
}
