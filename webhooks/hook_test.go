package webhooks

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/outbox"
	"github.com/sitrep/sitrep/routing"
	"github.com/sitrep/sitrep/timeline"
)

const hubToken = "statushub-service-key-9f3a"

// queue is a Writer that keeps what it is given.
type queue struct {
	rooms []string
	items []outbox.Item
}

func (q *queue) Enqueue(room string, it outbox.Item) error {
	q.rooms = append(q.rooms, room)
	q.items = append(q.items, it)
	return nil
}

func (q *queue) requests(t *testing.T) []Request {
	t.Helper()
	out := make([]Request, len(q.items))
	for i, it := range q.items {
		r, err := DecodeRequest(it.Msg.Payload)
		require.NoError(t, err)
		out[i] = r
	}
	return out
}

func dispatch(t *testing.T, s *Set, q *queue, inc *timeline.Incident, ev *timeline.Event) []string {
	t.Helper()
	rooms, err := s.Dispatch(nil, q, inc, ev)
	require.NoError(t, err)
	return rooms
}

func mustCompile(t *testing.T, hooks ...Hook) *Set {
	t.Helper()
	s, err := Compile(hooks, Options{PublicURL: "https://sitrep.example.com"})
	require.NoError(t, err)
	return s
}

func TestCompileRejectsBadWebhooksNamingTheField(t *testing.T) {
	ok := Hook{Name: "hub", Event: AnyIncident, URL: "https://hooks.statushub.io/hooks/generic_v2?token=" + hubToken}
	with := func(f func(*Hook)) Hook { h := ok; f(&h); return h }
	tests := []struct {
		name  string
		hook  Hook
		field string
		msg   string
	}{
		{"no name", with(func(h *Hook) { h.Name = "" }), "name", "not a webhook name"},
		{"unknown event", with(func(h *Hook) { h.Event = "Incident-Exploded" }), "event", "unknown event"},
		{"no event", with(func(h *Hook) { h.Event = "" }), "event", "required"},
		{"paging", with(func(h *Hook) { h.Event = "Paging-Start" }), "event", "no paging events"},
		{"unknown method", with(func(h *Hook) { h.Method = "FETCH" }), "method", "unknown method"},
		{"ftp URL", with(func(h *Hook) { h.URL = "ftp://files.example.com/x?token=" + hubToken }), "url", "not an http:// or https:// URL"},
		{"no URL", with(func(h *Hook) { h.URL = "" }), "url", "required"},
		{"templated host", with(func(h *Hook) { h.URL = "https://${{ALERT.host}}?token=" + hubToken }), "url", "host must be written out"},
		{"user info", with(func(h *Hook) { h.URL = "https://me:" + hubToken + "@example.com/x" }), "url", "credentials"},
		{"unclosed URL template", with(func(h *Hook) { h.URL = "https://h.example.com/?token=${{ALERT.StatusHubfield" }), "url", "unclosed"},
		{"unclosed payload", with(func(h *Hook) { h.Payload = `{"m": "${{ALERT.x"}` }), "payload", "unclosed"},
		{"scope of another event", with(func(h *Hook) { h.Payload = `${{CHAT.TEXT}}` }), "payload", `unknown scope "CHAT"`},
		{"on-call scope only", with(func(h *Hook) { h.Event = OnCall; h.Payload = `${{ALERT.x}}` }), "payload", `want ONCALL`},
		{"GET with a payload", with(func(h *Hook) { h.Method = "get"; h.Payload = "x" }), "payload", "no body"},
		{"bad content type", with(func(h *Hook) { h.ContentType = "json please" }), "content_type", "media type"},
		{"bad header name", with(func(h *Hook) { h.Headers = map[string]string{"Bad Header": "x"} }), "headers.Bad Header", "header name"},
		{"reserved header", with(func(h *Hook) { h.Headers = map[string]string{"content-type": "text/plain"} }), "headers.content-type", "set by sitrep"},
		{"signature header", with(func(h *Hook) { h.Headers = map[string]string{HeaderSignature: "x"} }), "headers." + HeaderSignature, "set by sitrep"},
		{"header line break", with(func(h *Hook) { h.Headers = map[string]string{"X-A": "a\r\nX-B: b"} }), "headers.X-A", "line break"},
		{"header template", with(func(h *Hook) { h.Headers = map[string]string{"X-A": "${{NOPE.x}}"} }), "headers.X-A", "unknown scope"},
		{"short secret", with(func(h *Hook) { h.SigningSecret = "short" }), "signing_secret", "too short"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile([]Hook{tt.hook}, Options{})
			require.Error(t, err)
			fes := FieldErrors(err)
			require.Len(t, fes, 1, "%v", err)
			assert.Equal(t, tt.field, fes[0].Field)
			assert.Equal(t, 0, fes[0].Index)
			assert.Contains(t, fes[0].Error(), tt.msg)
			assert.NotContains(t, err.Error(), hubToken, "no error shows the URL's token")
		})
	}
	t.Run("duplicate names, all problems at once", func(t *testing.T) {
		_, err := Compile([]Hook{ok, ok, with(func(h *Hook) { h.Name = "other"; h.Method = "FETCH" })}, Options{})
		fes := FieldErrors(err)
		require.Len(t, fes, 2)
		assert.Equal(t, "name", fes[0].Field)
		assert.Equal(t, 1, fes[0].Index)
		assert.Equal(t, "method", fes[1].Field)
	})
	t.Run("defaults and case", func(t *testing.T) {
		s := mustCompile(t, with(func(h *Hook) { h.Event = "any-incident" }))
		assert.Equal(t, AnyIncident, s.hooks[0].event)
		assert.Equal(t, http.MethodPost, s.hooks[0].method)
		assert.Equal(t, "application/json", s.hooks[0].contentType)
	})
}

func incident(fields map[string]string) *timeline.Incident {
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	return &timeline.Incident{ID: 42, EntityID: fields["entity_id"], Title: fields["entity_display_name"], State: timeline.StateTriggered,
		Fields: fields, OpenedAt: at, Rooms: []string{"ops"}}
}

func TestSeed000OnlyAlertsARuleGaveTheFieldReachTheWebhook(t *testing.T) {
	s := mustCompile(t, Hook{Name: "statushub", Event: AnyIncident, Method: "POST",
		URL: "https://hooks.statushub.io/hooks/generic_v2?token=${{ALERT.StatusHubfield}}"})
	var q queue
	cw := incident(map[string]string{"entity_id": "cw-1", "monitoring_tool": "Cloudwatch", "StatusHubfield": hubToken,
		"entity_display_name": "API latency", "state_message": "p99 2s", "api_token": "xoxb-should-not-leave"})
	dispatch(t, s, &q, cw, &timeline.Event{ID: 7, Kind: timeline.KindTriggered})
	other := incident(map[string]string{"entity_id": "nagios-1", "monitoring_tool": "Nagios"})
	dispatch(t, s, &q, other, &timeline.Event{ID: 8, Kind: timeline.KindTriggered})

	require.Len(t, q.items, 1, "only the alert with StatusHubfield fires the webhook")
	assert.Equal(t, []string{"webhook:statushub"}, q.rooms)
	it := q.items[0]
	assert.True(t, it.NoDigest, "a webhook request is never collapsed into a digest")
	assert.Equal(t, adapters.OpPost, it.Op)
	assert.Equal(t, uint64(42), it.Msg.IncidentID)
	assert.NotContains(t, it.Msg.Text, hubToken)
	req := q.requests(t)[0]
	assert.Equal(t, "https://hooks.statushub.io/hooks/generic_v2?token="+hubToken, req.URL)
	assert.Equal(t, "POST", req.Method)
	assert.Equal(t, "application/json", req.ContentType)
	// An empty payload is the alert's fields, flat, without the secret-looking ones.
	var body map[string]string
	require.NoError(t, json.Unmarshal([]byte(req.Body), &body))
	assert.Equal(t, "API latency", body["entity_display_name"])
	assert.Equal(t, "p99 2s", body["state_message"])
	assert.NotContains(t, body, "api_token", "left out by its key")
	assert.Equal(t, "Cloudwatch", body["monitoring_tool"])

	// Any-Incident fires on ack and resolve too, not on chat.
	for _, k := range []timeline.Kind{timeline.KindAcknowledged, timeline.KindResolved, timeline.KindChat, timeline.KindNote, timeline.KindUpdated} {
		dispatch(t, s, &q, cw, &timeline.Event{Kind: k})
	}
	assert.Len(t, q.items, 3)
}

func TestDefaultBodyLeavesOutSecretsByKeyAndByValue(t *testing.T) {
	s := mustCompile(t, Hook{Name: "h", Event: IncidentTriggered, URL: "https://example.com/in"})
	var q queue
	inc := incident(map[string]string{"entity_id": "e", "password": "hunter2hunter2", "runbook": "https://hooks.slack.com/services/T0/B0/abcdefgh",
		"note": "xoxb-1234567890-abc", "host_name": "db-1"})
	dispatch(t, s, &q, inc, &timeline.Event{Kind: timeline.KindTriggered})
	var body map[string]string
	require.NoError(t, json.Unmarshal([]byte(q.requests(t)[0].Body), &body))
	assert.Equal(t, map[string]string{"entity_id": "e", "host_name": "db-1"}, body)
}

func TestPayloadValuesAreEscapedForWhereTheyLand(t *testing.T) {
	s := mustCompile(t,
		Hook{Name: "hipchat", Event: IncidentTriggered, Method: "POST", ContentType: "application/json",
			URL:     "https://acme.hipchat.com/v2/room/${{ALERT.room_id}}/notification?auth_token=${{ALERT.auth_token}}",
			Headers: map[string]string{"X-Title": "${{ALERT.entity_display_name}}"},
			Payload: `{"color": "red", "message": "${{ALERT.entity_display_name}}", "notify": true, "message_format": "text"}`},
		Hook{Name: "form", Event: IncidentTriggered, ContentType: "application/x-www-form-urlencoded", URL: "https://example.com/f",
			Payload: "title=${{ALERT.entity_display_name}}&state=${{STATE.CURRENT_STATE}}"},
		Hook{Name: "plain", Event: IncidentTriggered, ContentType: "text/plain", URL: "https://example.com/p",
			Payload: "${{STATE.INCIDENT_NAME}}: ${{ALERT.entity_display_name}} (${{INCIDENT.url}})"},
	)
	var q queue
	title := "DB \"primary\" down\\\r\nX-Injected: 1 & more"
	inc := incident(map[string]string{"entity_id": "db", "entity_display_name": title, "room_id": "12/../34", "auth_token": "tok&admin=1"})
	dispatch(t, s, &q, inc, &timeline.Event{Kind: timeline.KindTriggered})
	reqs := q.requests(t)
	require.Len(t, reqs, 3)

	hc := reqs[0]
	var body map[string]any
	require.NoError(t, json.Unmarshal([]byte(hc.Body), &body), "a quote in a title cannot break the JSON body: %s", hc.Body)
	assert.Equal(t, title, body["message"])
	assert.Equal(t, true, body["notify"])
	assert.Equal(t, "https://acme.hipchat.com/v2/room/12%2F..%2F34/notification?auth_token=tok%26admin%3D1", hc.URL,
		"a value is one path segment, or one query value")
	assert.Equal(t, `DB "primary" down\  X-Injected: 1 & more`, hc.Headers["X-Title"], "no line break in a header")

	assert.Equal(t, "title=DB+%22primary%22+down%5C%0D%0AX-Injected%3A+1+%26+more&state=CRITICAL", reqs[1].Body)
	assert.Equal(t, "42: "+title+" (https://sitrep.example.com/v1/incidents/42)", reqs[2].Body, "other types get values as they are")
}

func TestEventsFireTheirWebhooks(t *testing.T) {
	url := "https://example.com/x"
	s := mustCompile(t,
		Hook{Name: "trig", Event: IncidentTriggered, URL: url},
		Hook{Name: "ack", Event: IncidentAcknowledged, URL: url, Payload: `{"by": "${{STATE.ACK_USER}}", "msg": "${{STATE.ACK_MSG}}", "phase": "${{STATE.CURRENT_ALERT_PHASE}}"}`},
		Hook{Name: "res", Event: IncidentResolved, URL: url, Payload: `${{STATE.CURRENT_STATE}} ${{STATE.CURRENT_ALERT_PHASE}}`},
		Hook{Name: "any", Event: AnyIncident, URL: url},
		Hook{Name: "ichat", Event: IncidentChats, URL: url, Payload: `{"user": "${{CHAT.USER_ID}}", "text": "${{CHAT.TEXT}}", "incident": "${{STATE.INCIDENT_NAME}}"}`},
		Hook{Name: "allchat", Event: AllChats, URL: url},
		Hook{Name: "oncall", Event: OnCall, URL: url},
	)
	tests := []struct {
		kind  timeline.Kind
		state timeline.State
		text  string
		want  []string
	}{
		{timeline.KindTriggered, timeline.StateTriggered, "", []string{"webhook:trig", "webhook:any"}},
		{timeline.KindAcknowledged, timeline.StateAcknowledged, "on it", []string{"webhook:ack", "webhook:any"}},
		{timeline.KindResolved, timeline.StateResolved, "", []string{"webhook:res", "webhook:any"}},
		{timeline.KindChat, timeline.StateAcknowledged, "restarting", []string{"webhook:ichat", "webhook:allchat"}},
		{timeline.KindNote, timeline.StateTriggered, "", nil},
		{timeline.KindUpdated, timeline.StateTriggered, "", nil},
		{timeline.KindRepeated, timeline.StateTriggered, "", nil},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			inc := incident(map[string]string{"entity_id": "e", "message_type": "WARNING"})
			inc.State = tt.state
			if tt.state != timeline.StateTriggered {
				inc.AcknowledgedBy = "alice"
			}
			var q queue
			ev := &timeline.Event{Kind: tt.kind, Text: tt.text, Origin: timeline.Origin{User: "alice", Room: "ops", Adapter: "webroom"}}
			woken := dispatch(t, s, &q, inc, ev)
			assert.Equal(t, tt.want, q.rooms)
			assert.Equal(t, tt.want, woken, "Dispatch returns the rooms to wake")
			for i, r := range q.requests(t) {
				switch q.rooms[i] {
				case "webhook:ack":
					assert.JSONEq(t, `{"by": "alice", "msg": "on it", "phase": "ACKED"}`, r.Body)
				case "webhook:res":
					assert.Equal(t, "OK RESOLVED", r.Body)
				case "webhook:ichat":
					assert.JSONEq(t, `{"user": "alice", "text": "restarting", "incident": "42"}`, r.Body)
				}
			}
		})
	}
	t.Run("an ack without a note does not fire a webhook naming STATE.ACK_MSG", func(t *testing.T) {
		var q queue
		inc := incident(map[string]string{"entity_id": "e"})
		inc.State, inc.AcknowledgedBy = timeline.StateAcknowledged, "bob"
		dispatch(t, s, &q, inc, &timeline.Event{Kind: timeline.KindAcknowledged})
		assert.Equal(t, []string{"webhook:any"}, q.rooms)
	})
}

func TestOnCallChanges(t *testing.T) {
	s := mustCompile(t,
		Hook{Name: "on", Event: OnCall, URL: "https://example.com/on", Payload: `{"user": "${{ONCALL.USER_ID}}", "team": "${{ONCALL.TEAM_NAME}}", "state": "${{ONCALL.STATE}}"}`},
		Hook{Name: "off", Event: OffCall, URL: "https://example.com/off"},
		Hook{Name: "any", Event: AnyOnCall, URL: "https://example.com/any?team=${{ONCALL.TEAM_NAME}}&group=${{ONCALL.GROUP_ID}}"},
		Hook{Name: "inc", Event: AnyIncident, URL: "https://example.com/inc"},
	)
	var q queue
	woken, err := s.OnCallChange(&q, Change{User: "alice", Team: "payments", OnCall: true, Group: "primary"})
	require.NoError(t, err)
	assert.Equal(t, []string{"webhook:on", "webhook:any"}, q.rooms)
	assert.Equal(t, q.rooms, woken)
	reqs := q.requests(t)
	assert.JSONEq(t, `{"user": "alice", "team": "payments", "state": "ON_CALL"}`, reqs[0].Body)
	assert.Equal(t, "https://example.com/any?team=payments&group=primary", reqs[1].URL)

	q = queue{}
	woken, err = s.OnCallChange(&q, Change{User: "bob", Team: "payments"})
	require.NoError(t, err)
	assert.Equal(t, woken, q.rooms)
	assert.Equal(t, []string{"webhook:off"}, q.rooms, "no group: the Any-On-Call webhook naming ONCALL.GROUP_ID does not fire")
	var body map[string]string
	require.NoError(t, json.Unmarshal([]byte(q.requests(t)[0].Body), &body))
	assert.Equal(t, "bob", body["ONCALL.USER_ID"])
	assert.Equal(t, "OFF_CALL", body["ONCALL.STATE"])
}

func TestGETSendsNoBody(t *testing.T) {
	s := mustCompile(t, Hook{Name: "g", Event: IncidentTriggered, Method: "GET", URL: "https://example.com/ping?id=${{INCIDENT.id}}"})
	var q queue
	dispatch(t, s, &q, incident(map[string]string{"entity_id": "e"}), &timeline.Event{Kind: timeline.KindTriggered})
	r := q.requests(t)[0]
	assert.Equal(t, "GET", r.Method)
	assert.Equal(t, "https://example.com/ping?id=42", r.URL)
	assert.Empty(t, r.Body)
	assert.Empty(t, r.ContentType)
}

func TestExplain(t *testing.T) {
	s := mustCompile(t,
		Hook{Name: "statushub", Event: AnyIncident, URL: "https://hooks.statushub.io/hooks/generic_v2?token=${{ALERT.StatusHubfield}}"},
		Hook{Name: "acks", Event: IncidentAcknowledged, URL: "https://example.com/a"},
	)
	trs := s.Explain(map[string]string{"entity_id": "cw", "StatusHubfield": hubToken}, time.Now())
	require.Len(t, trs, 1, "only webhooks a new incident fires are listed")
	assert.True(t, trs[0].Fires)
	assert.Equal(t, "https://hooks.statushub.io/hooks/generic_v2?token=****9f3a", trs[0].URL, "tokens redacted")
	trs = s.Explain(map[string]string{"entity_id": "nagios"}, time.Now())
	assert.False(t, trs[0].Fires)
	assert.Equal(t, "template names unset field ALERT.StatusHubfield", trs[0].Reason)
}

func TestExplainIntoHidesWhatTheURLsCarry(t *testing.T) {
	s := mustCompile(t, Hook{Name: "statushub", Event: AnyIncident, URL: "https://hooks.statushub.io/hooks/generic_v2?token=${{ALERT.StatusHubfield}}"})
	r, err := routing.Compile([]routing.Rule{{Name: "key", Matchers: []string{`monitoring_tool="Cloudwatch"`}, Set: map[string]string{"StatusHubfield": hubToken}}}, routing.Options{})
	require.NoError(t, err)
	alert := map[string]string{"monitoring_tool": "Cloudwatch", "entity_id": "cw"}
	ex := r.Explain(alert, nil)
	require.Contains(t, ex.String(), hubToken, "routing alone shows a set value whose name and value look harmless")
	s.ExplainInto(&ex, r.Route(alert, nil).Fields, time.Now())
	out, _ := json.Marshal(ex)
	assert.NotContains(t, string(out), hubToken)
	assert.NotContains(t, ex.String(), hubToken)
	assert.Contains(t, ex.String(), "⇒ webhook statushub (Any-Incident): POST https://hooks.statushub.io/hooks/generic_v2?token=****9f3a")
}

func TestRedactURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://hooks.statushub.io/hooks/generic_v2?token=${{ALERT.StatusHubfield}}", "https://hooks.statushub.io/hooks/generic_v2?token=${{ALERT.StatusHubfield}}"},
		{"https://hooks.statushub.io/hooks/generic_v2?token=" + hubToken, "https://hooks.statushub.io/hooks/generic_v2?token=****9f3a"},
		{"https://acme.hipchat.com/v2/room/${{ALERT.room_id}}/notification?auth_token=abc", "https://acme.hipchat.com/v2/room/${{ALERT.room_id}}/notification?auth_token=****"},
		{"https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXX", "https://hooks.slack.com/services/T000/B000/****XXXX"},
		{"https://example.com/in", "https://example.com/in"},
		{"https://example.com/in?a&b=", "https://example.com/in?a&b="},
		{"https://example.com/in#frag-with-a-secret", "https://example.com/in#****cret"},
		{"not a url at all", "**** all"},
		{"https://discord.com/api/webhooks/123456789012345678/abcdefghijklmnopqrstuvwxyz", "https://discord.com/api/webhooks/****5678/****wxyz"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, RedactURL(tt.in), tt.in)
	}
}

func TestRequestRedacted(t *testing.T) {
	r := Request{URL: "https://example.com/x?token=" + hubToken, Headers: map[string]string{"Authorization": "Splunk " + hubToken, "X-Team": "payments"},
		Body: `{"auth_token": "` + hubToken + `", "message": "hi", "key": "` + hubToken + `"}`}
	red := r.Redacted()
	raw, _ := json.Marshal(red)
	assert.NotContains(t, string(raw), hubToken)
	assert.Equal(t, "payments", red.Headers["X-Team"])
	assert.Contains(t, red.Body, `"message":"hi"`)
}

func TestTeamChat(t *testing.T) {
	s := mustCompile(t,
		Hook{Name: "all", Event: AllChats, URL: "https://example.com/c", Payload: `{"t": "${{CHAT.TEXT}}", "team": "${{CHAT.TEAM}}"}`},
		Hook{Name: "needs-incident", Event: AllChats, URL: "https://example.com/i/${{INCIDENT.id}}"},
		Hook{Name: "incident-only", Event: IncidentChats, URL: "https://example.com/x"},
	)
	var q queue
	rooms, err := s.TeamChat(&q, "payments", timeline.Origin{User: "alice", Room: "pay"}, `say "hi"`)
	require.NoError(t, err)
	assert.Equal(t, []string{"webhook:all"}, rooms, "a team line has no incident: a webhook naming one does not fire")
	assert.Equal(t, rooms, q.rooms)
	assert.JSONEq(t, `{"t": "say \"hi\"", "team": "payments"}`, q.requests(t)[0].Body)
}

func TestSignMatchesTheDocumentedAlgorithm(t *testing.T) {
	// Computed with the README's Python snippet.
	assert.Equal(t, "v1=e037ebe6ade49ae908f455dcecb0f0d5ca1bebfa9650552502498ad117a0602d",
		Sign("whsec-0123456789abcdef", 1764590000, []byte(`{"a":"b"}`)))
}

// A value that is "." or ".." cannot be one path segment (receivers decode
// %2E and remove dot segments, moving the request up their path): the
// webhook does not fire, and route test says why.
func TestURLValueCannotBeADotSegment(t *testing.T) {
	s := mustCompile(t, Hook{Name: "hipchat", Event: IncidentTriggered,
		URL: "https://acme.hipchat.com/v2/room/${{ALERT.room_id}}/notification?auth_token=${{ALERT.auth_token}}"})
	for _, tc := range []struct{ room, token, want string }{
		{"..", "t", ""},
		{".", "t", ""},
		{"...", "t", "https://acme.hipchat.com/v2/room/.../notification?auth_token=t"},
		{"a..b", "t", "https://acme.hipchat.com/v2/room/a..b/notification?auth_token=t"},
		{"12", "..", "https://acme.hipchat.com/v2/room/12/notification?auth_token=.."},
	} {
		var q queue
		fields := map[string]string{"entity_id": "db", "room_id": tc.room, "auth_token": tc.token}
		dispatch(t, s, &q, incident(fields), &timeline.Event{Kind: timeline.KindTriggered})
		reqs := q.requests(t)
		tr := s.Explain(fields, time.Now())
		require.Len(t, tr, 1)
		if tc.want == "" {
			assert.Empty(t, reqs, "room_id %q", tc.room)
			assert.False(t, tr[0].Fires)
			assert.Contains(t, tr[0].Reason, "not a path segment")
			continue
		}
		require.Len(t, reqs, 1)
		assert.Equal(t, tc.want, reqs[0].URL, "room_id %q", tc.room)
		assert.True(t, tr[0].Fires)
	}
}

// Dead letters show a request redacted: not only a flat JSON body's
// members, but a form body's values, nested JSON members and a text body
// that carries what the URL's query or a secret header carries.
func TestRequestRedactedHidesEveryBodyShape(t *testing.T) {
	url := "https://hooks.statushub.io/hooks/generic_v2?token=" + hubToken
	for _, tc := range []struct{ name, ct, body string }{
		{"form, by value", "application/x-www-form-urlencoded", "StatusHubfield=" + hubToken + "&title=hi"},
		{"form, by name", "application/x-www-form-urlencoded", "api_key=form-secret-value-77&title=hi"},
		{"nested JSON", "application/json", `{"auth": {"token": "` + hubToken + `"}, "list": ["` + hubToken + `"], "title": "hi"}`},
		{"nested JSON, by name", "application/json", `{"auth": {"password": "form-secret-value-77"}, "title": "hi"}`},
		{"text", "text/plain", "key " + hubToken + " title hi"},
		{"text, a header's token", "text/plain", "bearer header-token-0123456789 title hi"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Request{URL: url, ContentType: tc.ct, Body: tc.body,
				Headers: map[string]string{"Authorization": "Bearer header-token-0123456789"}}
			raw, _ := json.Marshal(r.Redacted())
			assert.NotContains(t, string(raw), hubToken)
			assert.NotContains(t, string(raw), "form-secret-value-77")
			assert.NotContains(t, string(raw), "header-token-0123456789")
			assert.Contains(t, string(raw), "hi")
		})
	}
}
