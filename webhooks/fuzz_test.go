package webhooks

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/sitrep/sitrep/timeline"
)

// FuzzCompile feeds Compile any webhook: it must never panic, and a webhook
// it takes must render to a request that decodes, whose URL keeps the
// written scheme and host, and whose JSON payload stays JSON when the
// template was JSON.
func FuzzCompile(f *testing.F) {
	f.Add("Any-Incident", "POST", "https://hooks.statushub.io/hooks/generic_v2?token=${{ALERT.StatusHubfield}}", "", "", "say \"hi\"")
	f.Add("Incident-Triggered", "POST", "https://a.hipchat.com/v2/room/${{ALERT.room_id}}/notification", "application/json",
		`{"color": "red", "message": "${{ALERT.entity_display_name}}"}`, "x\\\"}")
	f.Add("Incident-Chats", "PUT", "http://h/${{CHAT.TEXT}}?q=${{STATE.ACK_MSG}}", "text/plain", "${{CHAT.TEXT", "")
	f.Add("On-Call", "GET", "https://${{ONCALL.TEAM_NAME}}", "", "", "")
	f.Fuzz(func(t *testing.T, event, method, url, contentType, payload, value string) {
		s, err := Compile([]Hook{{Name: "h", Event: event, Method: method, URL: url, ContentType: contentType, Payload: payload,
			Headers: map[string]string{"X-V": "${{ALERT.v}}"}}}, Options{})
		if err != nil {
			if len(FieldErrors(err)) == 0 {
				t.Fatalf("error without a field: %v", err)
			}
			return
		}
		fields := map[string]string{"v": value, "entity_display_name": value, "room_id": value, "StatusHubfield": value}
		var q queue
		inc := &timeline.Incident{ID: 1, EntityID: "e", Fields: fields, State: timeline.StateTriggered}
		for _, k := range []timeline.Kind{timeline.KindTriggered, timeline.KindChat} {
			if _, err := s.Dispatch(nil, &q, inc, &timeline.Event{Kind: k, Text: value}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.OnCallChange(&q, Change{User: value, Team: value}); err != nil {
			t.Fatal(err)
		}
		filled := strings.ReplaceAll(url, "${{", "")
		for _, it := range q.items {
			req, err := DecodeRequest(it.Msg.Payload)
			if err != nil {
				t.Fatal(err)
			}
			scheme, rest, _ := strings.Cut(url, "://")
			host := rest[:strings.IndexAny(rest+"/", "/?#")]
			if !strings.HasPrefix(req.URL, scheme+"://"+host) {
				t.Fatalf("URL %q left its host %q (template %q)", req.URL, host, filled)
			}
			if strings.ContainsAny(req.Headers["X-V"], "\r\n") {
				t.Fatalf("header with a line break: %q", req.Headers["X-V"])
			}
			if json.Valid([]byte(payload)) && payload != "" && s.hooks[0].json && !json.Valid([]byte(req.Body)) {
				t.Fatalf("JSON payload %q rendered to invalid JSON %q", payload, req.Body)
			}
		}
	})
}
