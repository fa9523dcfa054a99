package slack_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sitrep/sitrep/adapters"
	slackadapter "github.com/sitrep/sitrep/adapters/slack"
	"github.com/sitrep/sitrep/adapters/slack/slacktest"
)

// Slack's request bodies, signed, through the real handlers: anything is
// answered (taken or refused with a status), never a panic or a 500.
func FuzzRequest(f *testing.F) {
	for _, s := range []string{
		`{"type":"url_verification","challenge":"x"}`,
		`{"type":"event_callback","event_id":"Ev1","event":{"type":"message","channel":"C0OPS","user":"U1","text":"hi","ts":"1.1","thread_ts":"0.1"}}`,
		`{"type":"event_callback","event_id":"Ev2","event":{"type":"message","subtype":"message_changed","message":{}}}`,
		`payload=%7B%22type%22%3A%22block_actions%22%2C%22channel%22%3A%7B%22id%22%3A%22C0OPS%22%7D%2C%22user%22%3A%7B%22id%22%3A%22U1%22%7D%2C%22actions%22%3A%5B%7B%22action_id%22%3A%22sitrep_ack%22%2C%22value%22%3A%221%22%7D%5D%7D`,
		`command=%2Fsitrep&text=ack+1&channel_id=C0OPS&user_id=U1`,
		``, `{`, `payload=`, `%zz`,
	} {
		f.Add([]byte(s))
	}
	fx := newFixture(f, func(context.Context, adapters.Inbound) (adapters.Reply, error) {
		return adapters.Reply{Text: "ok", Private: true}, nil
	}, func(o *slackadapter.Options) { o.AckWithin = 50 * time.Millisecond })
	mux := http.NewServeMux()
	fx.client.Register(mux)
	paths := []string{slackadapter.CommandsPath, slackadapter.InteractionsPath, slackadapter.EventsPath}
	f.Fuzz(func(t *testing.T, body []byte) {
		_, _ = slackadapter.ParseCommand(body)
		_, _ = slackadapter.ParseInteraction(body)
		_, _, _ = slackadapter.ParseEvent(body)
		for _, p := range paths {
			req := httptest.NewRequest(http.MethodPost, p, bytes.NewReader(body))
			for k, v := range slacktest.Sign(secret, time.Now(), body) {
				req.Header[k] = v
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			w := httptest.NewRecorder()
			mux.ServeHTTP(w, req)
			if w.Code >= 500 {
				t.Fatalf("%s answered %d: %s", p, w.Code, w.Body)
			}
		}
	})
}
