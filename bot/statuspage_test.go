package bot

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sitrep/sitrep/adapters/statuscast/statuscasttest"
	"github.com/sitrep/sitrep/adapters/statushub/statushubtest"
	"github.com/sitrep/sitrep/platforms"
	"github.com/sitrep/sitrep/statuspage"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// hubConfig is a config with a StatusHub page "public" (services api and
// web) on hub, and extra YAML appended.
func hubConfig(data string, hub *statushubtest.Server, extra string) string {
	return baseConfig(data, fmt.Sprintf(`status_pages:
  - name: public
    kind: statushub
    services:
      api: %s
      web: %s
%s`, hub.HookURL("api"), hub.HookURL("web"), extra))
}

// waitUpdates waits until service has n accepted updates and returns them.
func waitUpdates(t *testing.T, hub *statushubtest.Server, service string, n int) []statushubtest.Update {
	t.Helper()
	require.Eventually(t, func() bool { return len(hub.Updates(service)) >= n }, 10*time.Second, 10*time.Millisecond,
		"%s: want %d updates, have %d (violations: %v)", service, n, len(hub.Updates(service)), hub.Violations())
	return hub.Updates(service)
}

func states(us []statushubtest.Update) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = string(u.Incident.State) + "/" + string(u.Incident.Status)
	}
	return out
}

// From a web room: open, update and resolve a status page incident on two
// StatusHub services; every update is schema-valid, one id per incident,
// resolved last, and nothing follows it.
func TestIncidentFromChatOnStatusHub(t *testing.T) {
	hub := statushubtest.New(t)
	tb := startBot(t, hubConfig(newDataPath(t), hub, ""))
	ops := tb.join(t, "ops")
	pay := tb.join(t, "payments")

	ops.say(t, `/incident open "DB slow" --status degraded --services api,web -- Queries take seconds.`)
	reply := ops.waitFor(t, 5*time.Second, "the open reply", textHas("opened #1"))
	assert.Contains(t, reply["text"], "StatusHub public/api,web → investigating, degraded")
	require.Eventually(t, func() bool { return ops.countText("#1 triggered WARNING: DB slow") == 1 }, 5*time.Second, 10*time.Millisecond,
		"the incident's card in the room it was opened from")

	api := waitUpdates(t, hub, "api", 1)
	web := waitUpdates(t, hub, "web", 1)
	first := api[0].Incident
	assert.Equal(t, "incident", first.Type)
	assert.Equal(t, "DB slow", first.Title)
	assert.Equal(t, "Queries take seconds.", first.Description)
	assert.Equal(t, statuspage.Investigating, first.State)
	assert.Equal(t, statuspage.Degraded, first.Status)
	assert.Equal(t, first.ID, web[0].Incident.ID, "one id for the incident on every service")

	ops.say(t, `/incident update 1 identified "index rebuilt"`)
	ops.waitFor(t, 5*time.Second, "the update reply", textHas("identified, degraded: index rebuilt"))
	ops.say(t, `/incident resolve 1 all good`)
	ops.waitFor(t, 5*time.Second, "the resolve reply", textHas("resolved #1"))

	api = waitUpdates(t, hub, "api", 3)
	web = waitUpdates(t, hub, "web", 3)
	assert.Equal(t, []string{"investigating/degraded", "identified/degraded", "resolved/up"}, states(api))
	assert.Equal(t, states(api), states(web))
	assert.Equal(t, "index rebuilt", api[1].Incident.Description)
	assert.Equal(t, "all good", api[2].Incident.Description)
	for _, u := range append(api, web...) {
		assert.Equal(t, first.ID, u.Incident.ID)
	}

	// Nothing more for that id: a second resolve or an update is refused in the room.
	ops.say(t, `/incident update 1 monitoring`)
	ops.waitFor(t, 5*time.Second, "the refusal", textHas("#1 is already resolved on its status page"))
	ops.say(t, `/incident resolve 1`)
	ops.waitFor(t, 5*time.Second, "the second refusal", textHas("already resolved"))
	time.Sleep(200 * time.Millisecond) // let anything wrongly queued be delivered
	assert.Len(t, hub.Updates("api"), 3)
	assert.Empty(t, hub.Violations())

	// The incident's timeline has each page change; the other team room was
	// not in it, and its own card in ops reads resolved.
	inc := tb.incident(t, 1)
	assert.Equal(t, "resolved", inc["state"])
	var lines []string
	for _, ev := range inc["events"].([]any) {
		e := ev.(map[string]any)
		if e["kind"] == "status_page" {
			lines = append(lines, e["text"].(string))
		}
	}
	assert.Equal(t, []string{
		"StatusHub public/api,web → investigating, degraded: Queries take seconds.",
		"StatusHub public/api,web → identified, degraded: index rebuilt",
		"StatusHub public/api,web → resolved, up: all good",
	}, lines)
	assert.Zero(t, pay.countText("DB slow"))
}

// Mistyped commands and bad values get a usage line, and nothing is sent.
func TestIncidentCommandUsage(t *testing.T) {
	hub := statushubtest.New(t)
	tb := startBot(t, hubConfig(newDataPath(t), hub, ""))
	ops := tb.join(t, "ops")
	cases := []struct{ typed, want string }{
		{`/incident opne "DB slow"`, `unknown /incident subcommand "opne"`},
		{`/incident open "DB slow" --colour red`, "unknown flag --colour. usage: /incident open <title>"},
		{`/incident open "DB slow" --status broken`, `--status: status "broken": expected down, degraded or up`},
		{`/incident open "DB slow" --services api,db`, `unknown service "db" of status page public (api, web)`},
		{`/incident open "DB slow" --page private`, `unknown status page "private" (public)`},
		{`/incident open --status down`, "a title is needed"},
		{`/incident update 7 fixed`, `state "fixed": expected investigating`},
		{`/incident update 7 identified`, "#7 has no status page incident"},
		{`/incident maintenance "DB upgrade" --start +2h --end now`, "is not after --start"},
		{`/incident maintenance "DB upgrade" --start "last week" --end +1h`, `--start: time "last week"`},
		{`/incident maintenance "DB upgrade" --start +1h`, "--start and --end are needed"},
	}
	for i, tc := range cases {
		if i%5 == 4 {
			ops = tb.join(t, "ops") // a room connection takes a few lines a second
		}
		ops.say(t, tc.typed)
		ops.waitFor(t, 5*time.Second, tc.want, textHas(tc.want))
	}
	time.Sleep(100 * time.Millisecond)
	assert.Empty(t, hub.Updates("api"))
	assert.Empty(t, hub.Updates("web"))
}

// A route's automation: CRITICAL opens investigating/down, an ack makes it
// identified, the recovery monitoring/up, then resolved with the closing
// comment; each change is on the timeline and in the incident's rooms.
func TestStatusPageAutomation(t *testing.T) {
	hub := statushubtest.New(t)
	tb := startBot(t, hubConfig(newDataPath(t), hub, `routes:
  - name: api
    matchers: ['service="api"']
    rooms: [ops]
    status_page:
      page: public
      services: [api]
      auto_close: true
      closing_comment: "All systems go."
`))
	ops := tb.join(t, "ops")
	tb.alert(t, map[string]any{"message_type": "CRITICAL", "entity_id": "api-5xx", "entity_display_name": "API errors", "state_message": "5xx above 5%", "service": "api"})
	ops.waitFor(t, 5*time.Second, "the page change in the room", textHas("status page: StatusHub public/api → investigating, down: 5xx above 5%"))
	ops.say(t, "/ack 1")
	ops.waitFor(t, 5*time.Second, "identified in the room", textHas("StatusHub public/api → identified, down"))
	tb.alert(t, map[string]any{"message_type": "RECOVERY", "entity_id": "api-5xx", "service": "api"})
	ops.waitFor(t, 5*time.Second, "the close in the room", textHas("StatusHub public/api → resolved, up: All systems go."))

	api := waitUpdates(t, hub, "api", 4)
	assert.Equal(t, []string{"investigating/down", "identified/down", "monitoring/up", "resolved/up"}, states(api))
	assert.Empty(t, hub.Updates("web"), "the route names api only")
	assert.Empty(t, hub.Violations())

	// /status shows what was last sent.
	ops.say(t, "/status")
	f := ops.waitFor(t, 5*time.Second, "the /status reply", textHas("status pages, as sitrep last sent them"))
	assert.Contains(t, f["text"], "StatusHub public/api: up (#1 API errors resolved")
	assert.Contains(t, f["text"], "StatusHub public/web: nothing sent yet")

	// The incident's page says what the status page shows.
	resp, err := http.Get(tb.URL + "/incidents/1")
	require.NoError(t, err)
	defer resp.Body.Close()
	page, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Contains(t, string(page), "StatusHub public/api")
	assert.Contains(t, string(page), "resolved, up (since ")
}

// start_time is the event's time, but a page incident's updates never go
// back in time: a RECOVERY whose source clock is behind the CRITICAL's would
// otherwise date monitoring and resolved before investigating, so a page
// that orders updates by start_time would not see resolved last.
func TestStatusPageStartTimesNeverGoBack(t *testing.T) {
	hub := statushubtest.New(t)
	tb := startBot(t, hubConfig(newDataPath(t), hub, `routes:
  - name: api
    matchers: ['service="api"']
    rooms: [ops]
    status_page: {page: public, services: [api], auto_close: true}
`))
	opened := time.Now().Add(-time.Minute).Truncate(time.Second)
	tb.alert(t, map[string]any{"message_type": "CRITICAL", "entity_id": "api", "service": "api", "timestamp": opened.Unix()})
	tb.alert(t, map[string]any{"message_type": "RECOVERY", "entity_id": "api", "service": "api", "timestamp": opened.Add(-10 * time.Minute).Unix()})
	api := waitUpdates(t, hub, "api", 3)
	require.Equal(t, []string{"investigating/down", "monitoring/up", "resolved/up"}, states(api))
	assert.Equal(t, opened.UTC().Format("2006-01-02T15:04:05Z"), api[0].Incident.StartTime, "the first update keeps the alert's time")
	for i := 1; i < len(api); i++ {
		assert.GreaterOrEqual(t, api[i].Incident.StartTime, api[i-1].Incident.StartTime, "update %d (%s) is dated before update %d", i, api[i].Incident.State, i-1)
	}
}

// A wait holds the publication back: an alert that recovers within it never
// reaches the page; one that stays up past it does, with the alert's own
// start time, also across a restart during the wait.
func TestStatusPageWait(t *testing.T) {
	hub := statushubtest.New(t)
	clock := newFakeClock()
	data := newDataPath(t)
	yaml := hubConfig(data, hub, `routes:
  - name: api
    matchers: ['service="api"']
    rooms: [ops]
    status_page: {page: public, services: [api], wait: 30s}
`)
	tb := startBotClock(t, yaml, platforms.All(), clock.Now)

	// Recovers after 5 s: never published.
	tb.alert(t, map[string]any{"message_type": "CRITICAL", "entity_id": "flap", "service": "api"})
	clock.Add(5 * time.Second)
	tb.alert(t, map[string]any{"message_type": "RECOVERY", "entity_id": "flap", "service": "api"})
	clock.Add(time.Minute)
	_, err := tb.pages.FireDue(t.Context())
	require.NoError(t, err)

	// Stays up: published once the wait is over, across a restart.
	started := clock.Now()
	tb.alert(t, map[string]any{"message_type": "CRITICAL", "entity_id": "down", "service": "api", "entity_display_name": "API down",
		"timestamp": started.Unix()})
	clock.Add(10 * time.Second)
	_, err = tb.pages.FireDue(t.Context())
	require.NoError(t, err)
	tb.stop()
	assert.Empty(t, hub.Updates("api"), "nothing before the wait is over")

	clock.Add(25 * time.Second)
	tb = startBotClock(t, yaml, platforms.All(), clock.Now)
	api := waitUpdates(t, hub, "api", 1)
	require.Len(t, api, 1)
	assert.Equal(t, "API down", api[0].Incident.Title)
	assert.Equal(t, started.UTC().Format("2006-01-02T15:04:05Z"), api[0].Incident.StartTime, "start_time is the alert's, not the publication's")
	inc := tb.incident(t, 2)
	var kinds []string
	for _, ev := range inc["events"].([]any) {
		kinds = append(kinds, ev.(map[string]any)["kind"].(string))
	}
	assert.Equal(t, []string{"triggered", "status_page"}, kinds)
	flap := tb.incident(t, 1)
	for _, ev := range flap["events"].([]any) {
		assert.NotEqual(t, "status_page", ev.(map[string]any)["kind"], "the flapping alert never reached the page")
	}
	time.Sleep(100 * time.Millisecond)
	assert.Len(t, hub.Updates("api"), 1)
}

// An alert acknowledged within its wait that stays up is published as the
// page would have shown it had it been published at once: identified, not
// investigating.
func TestStatusPageWaitAcknowledged(t *testing.T) {
	hub := statushubtest.New(t)
	clock := newFakeClock()
	tb := startBotClock(t, hubConfig(newDataPath(t), hub, `routes:
  - name: api
    matchers: ['service="api"']
    rooms: [ops]
    status_page: {page: public, services: [api], wait: 30s}
`), platforms.All(), clock.Now)
	tb.alert(t, map[string]any{"message_type": "CRITICAL", "entity_id": "down", "service": "api", "entity_display_name": "API down"})
	clock.Add(5 * time.Second)
	tb.alert(t, map[string]any{"message_type": "ACKNOWLEDGEMENT", "entity_id": "down", "service": "api"})
	clock.Add(30 * time.Second)
	_, err := tb.pages.FireDue(t.Context())
	require.NoError(t, err)
	api := waitUpdates(t, hub, "api", 1)
	assert.Equal(t, []string{"identified/down"}, states(api))
	assert.Empty(t, hub.Violations())
}

// Combined alerts on the same services share one page incident, which
// recovers with the last of them.
func TestStatusPageCombine(t *testing.T) {
	hub := statushubtest.New(t)
	tb := startBot(t, hubConfig(newDataPath(t), hub, `routes:
  - name: api
    matchers: ['service="api"']
    rooms: [ops]
    status_page: {page: public, services: [api], combine: true}
`))
	tb.alert(t, map[string]any{"message_type": "WARNING", "entity_id": "a", "service": "api", "entity_display_name": "slow"})
	tb.alert(t, map[string]any{"message_type": "CRITICAL", "entity_id": "b", "service": "api", "entity_display_name": "down"})
	api := waitUpdates(t, hub, "api", 2)
	assert.Equal(t, []string{"investigating/degraded", "investigating/down"}, states(api))
	assert.Equal(t, api[0].Incident.ID, api[1].Incident.ID)

	tb.alert(t, map[string]any{"message_type": "RECOVERY", "entity_id": "a", "service": "api"})
	time.Sleep(200 * time.Millisecond)
	assert.Len(t, hub.Updates("api"), 2, "one alert still fires")
	// An alert's own fields are not instructions: this one recovers, it does not close.
	tb.alert(t, map[string]any{"message_type": "RECOVERY", "entity_id": "b", "service": "api", "status_page.state": "resolved"})
	api = waitUpdates(t, hub, "api", 3)
	assert.Equal(t, "monitoring/up", states(api)[2])
	time.Sleep(100 * time.Millisecond)
	assert.Len(t, hub.Updates("api"), 3, "no auto_close: the page incident stays monitoring")
	assert.Empty(t, hub.Violations())
}

// A page that refuses an update (4xx) shows in the incident's rooms with its
// reason; one that answers 429 or 5xx is retried until it takes it.
func TestStatusPageRefusalAndRetry(t *testing.T) {
	hub := statushubtest.New(t)
	tb := startBot(t, hubConfig(newDataPath(t), hub, `outbox: {base_backoff: 10ms, max_backoff: 50ms}
routes:
  - name: api
    matchers: ['service="api"']
    rooms: [ops]
    status_page: {page: public, services: [api]}
`))
	ops := tb.join(t, "ops")
	hub.Fail(1, 429, "0", "slow down")
	hub.Fail(1, 503, "", "maintenance")
	tb.alert(t, map[string]any{"message_type": "CRITICAL", "entity_id": "a", "service": "api"})
	api := waitUpdates(t, hub, "api", 1)
	assert.Equal(t, "investigating/down", states(api)[0])

	hub.Fail(1, 400, "", `{"error":"title too long"}`)
	ops.say(t, "/ack 1")
	ops.waitFor(t, 10*time.Second, "the refusal in the room", textHas(`StatusHub public/api refused an update`))
	assert.Len(t, hub.Updates("api"), 1)
}

// StatusCast (seed 001) hears of an incident when it opens, with the alert's
// entity_state, and when it recovers (OK); an alert without a monitor_name
// does not reach it.
func TestStatusCast(t *testing.T) {
	cast := statuscasttest.New(t)
	tb := startBot(t, baseConfig(newDataPath(t), fmt.Sprintf(`status_pages:
  - name: cast
    kind: statuscast
    url: %s
routes:
  - name: cast
    matchers: ['monitoring_tool="nagios"']
    rooms: [ops]
    status_page: {page: cast}
`, cast.HookURL())))
	tb.alert(t, map[string]any{"message_type": "WARNING", "entity_id": "a", "monitoring_tool": "nagios", "monitor_name": "Website"})
	tb.alert(t, map[string]any{"message_type": "CRITICAL", "entity_id": "b", "monitoring_tool": "nagios"})
	tb.alert(t, map[string]any{"message_type": "RECOVERY", "entity_id": "a", "monitoring_tool": "nagios"})
	require.Eventually(t, func() bool { return len(cast.Bodies()) >= 2 }, 5*time.Second, 10*time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	var got []map[string]string
	for _, b := range cast.Bodies() {
		var m map[string]string
		require.NoError(t, json.Unmarshal([]byte(b), &m), b)
		got = append(got, m)
	}
	assert.Equal(t, []map[string]string{{"monitorName": "Website", "state": "WARNING"}, {"monitorName": "Website", "state": "OK"}}, got)

	// route test says an alert without the field does not reach it.
	code, out := tb.do(t, "POST", "/v1/routes/test", adminToken, map[string]string{"monitoring_tool": "nagios"})
	require.Equal(t, 200, code)
	raw, _ := json.Marshal(out["status_pages"])
	assert.Contains(t, string(raw), `monitor_name ${{ALERT.monitor_name}} names a field the alert lacks`)
}

// status_admins limits who may change pages; a maintenance is announced
// schema-exact (type maintenance, end_time, no state) and listed.
func TestMaintenanceAndStatusAdmins(t *testing.T) {
	hub := statushubtest.New(t)
	tb := startBot(t, hubConfig(newDataPath(t), hub, "status_admins: {rooms: [ops]}\n"))
	ops := tb.join(t, "ops")
	pay := tb.join(t, "payments")

	pay.say(t, `/incident open "DB slow"`)
	pay.waitFor(t, 5*time.Second, "the refusal", textHas("you may not change status pages from here (status_admins)"))
	pay.say(t, `/incident list`)
	pay.waitFor(t, 5*time.Second, "list is for everyone", textHas("no open status page incidents"))

	ops.say(t, `/incident maintenance "DB upgrade" --start +1h --end +2h --services api -- Short downtime.`)
	reply := ops.waitFor(t, 5*time.Second, "the announcement", textHas("announced maintenance on StatusHub public/api"))
	assert.Contains(t, reply["text"], "down: DB upgrade")
	api := waitUpdates(t, hub, "api", 1)
	var body map[string]any
	require.NoError(t, json.Unmarshal(api[0].Body, &body))
	assert.Equal(t, "maintenance", body["type"])
	assert.Equal(t, "DB upgrade", body["title"])
	assert.Equal(t, "Short downtime.", body["description"])
	assert.NotContains(t, body, "state")
	start, err := time.Parse(time.RFC3339, body["start_time"].(string))
	require.NoError(t, err)
	end, err := time.Parse(time.RFC3339, body["end_time"].(string))
	require.NoError(t, err)
	assert.Equal(t, 2*time.Hour, end.Sub(start))
	assert.WithinDuration(t, time.Now().Add(time.Hour), start, time.Minute)
	assert.Empty(t, hub.Updates("web"))
	assert.Empty(t, hub.Violations())

	ops.say(t, `/incident list`)
	ops.waitFor(t, 5*time.Second, "the maintenance listed", textHas("maintenance on StatusHub public/api"))
}

// The README's example: a relative --end counts from --start, so "--start
// 'tomorrow 02:00' --end +2h" is a two-hour maintenance, not one that ends
// before it starts.
func TestMaintenanceEndRelativeToStart(t *testing.T) {
	hub := statushubtest.New(t)
	tb := startBot(t, hubConfig(newDataPath(t), hub, ""))
	ops := tb.join(t, "ops")
	ops.say(t, `/incident maintenance "DB upgrade" --start "tomorrow 02:00" --end +2h --services api -- Short downtime.`)
	ops.waitFor(t, 5*time.Second, "the announcement", textHas("announced maintenance on StatusHub public/api"))
	api := waitUpdates(t, hub, "api", 1)
	var body map[string]string
	require.NoError(t, json.Unmarshal(api[0].Body, &body))
	start, err := time.Parse(time.RFC3339, body["start_time"])
	require.NoError(t, err)
	end, err := time.Parse(time.RFC3339, body["end_time"])
	require.NoError(t, err)
	assert.Equal(t, 2*time.Hour, end.Sub(start))
	assert.Equal(t, 2, start.Hour())
	assert.Empty(t, hub.Violations())
}

// Status pages through the admin API: hook URLs are write-only (redacted in
// every answer, kept when sent back redacted or left out), bad pages are a
// 400 naming the field, and a page added at run time is published on.
func TestStatusPagesAPI(t *testing.T) {
	hub := statushubtest.New(t)
	tb := startBot(t, hubConfig(newDataPath(t), hub, ""))

	code, out := tb.do(t, "GET", "/v1/status_pages/public", adminToken, nil)
	require.Equal(t, 200, code, "%v", out)
	raw, _ := json.Marshal(out)
	assert.NotContains(t, string(raw), "token=", "hook URLs are write-only")
	svcs := out["services"].(map[string]any)
	assert.Regexp(t, `^\*\*\*\*.{4}$`, svcs["api"])

	// Sent back as GET showed it, with a new service: the stored URL is kept.
	code, out = tb.do(t, "PUT", "/v1/status_pages/public", adminToken, map[string]any{
		"kind": "statushub", "services": map[string]string{"api": svcs["api"].(string), "web": svcs["web"].(string), "docs": hub.HookURL("docs")},
	})
	require.Equal(t, 200, code, "%v", out)
	raw, _ = json.Marshal(out)
	assert.NotContains(t, string(raw), "token=")

	for _, tc := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"kind": "statuspage.io", "url": "https://x"}, "kind"},
		{map[string]any{"kind": "statushub", "services": map[string]string{"api": "ftp://hooks.example/x?token=abc"}}, "services.api"},
		{map[string]any{"kind": "statushub"}, "services"},
		{map[string]any{"kind": "statushub", "services": map[string]string{"api": "****zzzz"}}, "services.api"},
	} {
		code, out := tb.do(t, "PUT", "/v1/status_pages/public", adminToken, tc.body)
		assert.Equal(t, 400, code, "%v", tc.body)
		assert.Equal(t, tc.field, out["field"], "%v", out)
		raw, _ := json.Marshal(out)
		assert.NotContains(t, string(raw), "token=abc")
	}
	code, _ = tb.do(t, "GET", "/v1/status_pages/public", "", nil)
	assert.Equal(t, 401, code)

	// The kept URL still works, and the new service is published on.
	ops := tb.join(t, "ops")
	ops.say(t, `/incident open "Docs stale" --services api,docs`)
	ops.waitFor(t, 5*time.Second, "the open reply", textHas("opened #1"))
	waitUpdates(t, hub, "api", 1)
	waitUpdates(t, hub, "docs", 1)
	code, out = tb.do(t, "GET", "/v1/status_pages/public", adminToken, nil)
	require.Equal(t, 200, code)
	assert.Len(t, out["shown"], 3)
}

// Retention prunes a resolved incident with what the pages keep of it, but
// not one whose page incident is still open (monitoring, no auto_close).
func TestStatusPageRetention(t *testing.T) {
	hub := statushubtest.New(t)
	clock := newFakeClock()
	tb := startBotClock(t, hubConfig(newDataPath(t), hub, `retention: 24h
routes:
  - name: closes
    matchers: ['service="api"']
    rooms: [ops]
    status_page: {page: public, services: [api], auto_close: true}
  - name: stays
    matchers: ['service="web"']
    rooms: [ops]
    status_page: {page: public, services: [web]}
`), platforms.All(), clock.Now)
	for _, svc := range []string{"api", "web"} {
		tb.alert(t, map[string]any{"message_type": "CRITICAL", "entity_id": svc, "service": svc})
		tb.alert(t, map[string]any{"message_type": "RECOVERY", "entity_id": svc, "service": svc})
	}
	waitUpdates(t, hub, "api", 3)
	waitUpdates(t, hub, "web", 2)

	clock.Add(48 * time.Hour)
	st, err := tb.newPruner().Pass(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 1, st.Incidents, "only the incident whose page incident closed")
	code, _ := tb.do(t, "GET", "/v1/incidents/1", adminToken, nil)
	assert.Equal(t, 404, code)
	tb.incident(t, 2)
	of, err := tb.pages.Of(1)
	require.NoError(t, err)
	assert.Empty(t, of)
	of, err = tb.pages.Of(2)
	require.NoError(t, err)
	require.Len(t, of, 1)
	assert.Equal(t, statuspage.Monitoring, of[0].State)
}
