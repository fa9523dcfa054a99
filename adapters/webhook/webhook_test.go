package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/adapters/webhook/webhooktest"
	"github.com/sitrep/sitrep/outbox"
	"github.com/sitrep/sitrep/timeline"
	"github.com/sitrep/sitrep/webhooks"
)

const (
	secret = "whsec-0123456789abcdef-7777"
	token  = "receiver-token-abcdef-4242"
)

type queue struct{ items []outbox.Item }

func (q *queue) Enqueue(_ string, it outbox.Item) error { q.items = append(q.items, it); return nil }

// delivery is what the outbox hands the Chat for a triggered incident, for
// the webhook hook.
func delivery(t *testing.T, hook webhooks.Hook) adapters.Delivery {
	t.Helper()
	set, err := webhooks.Compile([]webhooks.Hook{hook}, webhooks.Options{})
	require.NoError(t, err)
	var q queue
	inc := &timeline.Incident{ID: 7, EntityID: "db-1", Title: `DB "primary" down`, State: timeline.StateTriggered,
		Fields: map[string]string{"entity_id": "db-1", "entity_display_name": `DB "primary" down`, "token": token}}
	_, err = set.Dispatch(nil, &q, inc, &timeline.Event{ID: 3, Kind: timeline.KindTriggered})
	require.NoError(t, err)
	require.Len(t, q.items, 1)
	return adapters.Delivery{Room: adapters.Room{Name: webhooks.Room(hook.Name)}, Op: adapters.OpPost, Msg: q.items[0].Msg, Key: "webhook:" + hook.Name + ":1"}
}

func TestDeliverSignsWhatAReceiverVerifies(t *testing.T) {
	rcv := webhooktest.New(t, webhooktest.WithSecret(secret))
	hook := webhooks.Hook{Name: "ops", Event: webhooks.IncidentTriggered, Method: "PUT", URL: rcv.URL() + "/in/${{ALERT.entity_id}}?token=${{ALERT.token}}",
		Headers: map[string]string{"X-Api-Key": "k-123"}, Payload: `{"title": "${{ALERT.entity_display_name}}", "state": "${{STATE.CURRENT_STATE}}"}`, SigningSecret: secret}
	c := New(Options{Client: rcv.Client(), Secret: func(name string) (string, bool) { return map[string]string{"ops": secret}[name], name == "ops" }})
	_, err := c.Deliver(context.Background(), delivery(t, hook))
	require.NoError(t, err)
	require.Empty(t, rcv.Refused())
	got := rcv.Accepted()
	require.Len(t, got, 1)
	r := got[0]
	assert.Equal(t, http.MethodPut, r.Method)
	assert.Equal(t, "/in/db-1", r.Path)
	assert.Equal(t, "token="+token, r.Query)
	assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
	assert.Equal(t, "k-123", r.Header.Get("X-Api-Key"))
	assert.Equal(t, "Incident-Triggered", r.Header.Get("X-Sitrep-Event"))
	assert.Equal(t, "webhook:ops:1", r.Header.Get("X-Sitrep-Delivery"))
	var body map[string]string
	require.NoError(t, json.Unmarshal(r.Body, &body))
	assert.Equal(t, map[string]string{"title": `DB "primary" down`, "state": "CRITICAL"}, body)
}

func TestDeliverRefusedSignatures(t *testing.T) {
	hook := func(url string) webhooks.Hook {
		return webhooks.Hook{Name: "ops", Event: webhooks.IncidentTriggered, URL: url + "/in", SigningSecret: secret}
	}
	tests := []struct {
		name   string
		secret string
		now    time.Time
		why    string
	}{
		{"another secret", "whsec-not-the-receivers-one", time.Now(), "bad signature"},
		{"unsigned", "", time.Now(), "unsigned request"},
		{"an old timestamp", secret, time.Now().Add(-10 * time.Minute), "timestamp too far off"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rcv := webhooktest.New(t, webhooktest.WithSecret(secret))
			c := New(Options{Client: rcv.Client(), Secret: func(string) (string, bool) { return tt.secret, true }, Now: func() time.Time { return tt.now }})
			_, err := c.Deliver(context.Background(), delivery(t, hook(rcv.URL())))
			require.Error(t, err)
			assert.True(t, adapters.IsPermanent(err), "a 401 is not retried")
			assert.Equal(t, []string{tt.why}, rcv.Refused())
			assert.Empty(t, rcv.Accepted())
		})
	}
}

func TestDeliverMapsAnswersForTheOutbox(t *testing.T) {
	tests := []struct {
		name      string
		answer    webhooktest.Answer
		permanent bool
		after     time.Duration
		reason    string
	}{
		{"429 with Retry-After", webhooktest.Answer{Status: 429, RetryAfter: "7"}, false, 7 * time.Second, ""},
		{"503 is retried", webhooktest.Answer{Status: 503, Body: "maintenance"}, false, 0, "maintenance"},
		{"422 is permanent with the receiver's reason", webhooktest.Answer{Status: 422, Body: `{"error": "monitorName unknown"}`}, true, 0, "monitorName unknown"},
		{"a redirect is not followed", webhooktest.Answer{Status: 301}, true, 0, "redirect"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rcv := webhooktest.New(t)
			rcv.Then(tt.answer)
			c := New(Options{})
			_, err := c.Deliver(context.Background(), delivery(t, webhooks.Hook{Name: "ops", Event: webhooks.AnyIncident,
				URL: rcv.URL() + "/in?token=${{ALERT.token}}"}))
			require.Error(t, err)
			assert.NotContains(t, err.Error(), token, "no error shows the URL's token")
			assert.Equal(t, tt.permanent, adapters.IsPermanent(err))
			after, limited := adapters.RetryAfter(err)
			assert.Equal(t, tt.after, after)
			assert.Equal(t, tt.after != 0, limited)
			assert.Contains(t, err.Error(), tt.reason)
		})
	}
}

func TestDeliverForAWebhookNoLongerConfigured(t *testing.T) {
	rcv := webhooktest.New(t)
	c := New(Options{Secret: func(string) (string, bool) { return "", false }})
	_, err := c.Deliver(context.Background(), delivery(t, webhooks.Hook{Name: "gone", Event: webhooks.AnyIncident, URL: rcv.URL()}))
	require.Error(t, err)
	assert.True(t, adapters.IsPermanent(err))
	assert.Contains(t, err.Error(), "webhook gone is no longer configured")
	assert.Zero(t, rcv.Seen())
}

func TestGETSendsNoBodyOrContentType(t *testing.T) {
	rcv := webhooktest.New(t)
	_, err := New(Options{}).Deliver(context.Background(), delivery(t, webhooks.Hook{Name: "ping", Event: webhooks.AnyIncident, Method: "GET",
		URL: rcv.URL() + "/ping?incident=${{INCIDENT.id}}"}))
	require.NoError(t, err)
	r := rcv.Accepted()[0]
	assert.Equal(t, http.MethodGet, r.Method)
	assert.Equal(t, "incident=7", r.Query)
	assert.Empty(t, r.Body)
	assert.Empty(t, r.Header.Get("Content-Type"))
}

// A receiver whose refusal echoes the request (debugging endpoints do) does
// not put the URL's token, a secret header or the signature into the error
// the outbox logs and dead-letters.
func TestRefusalEchoingTheRequestShowsNoSecret(t *testing.T) {
	for _, code := range []int{http.StatusBadRequest, http.StatusInternalServerError} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(code)
			_, _ = fmt.Fprintf(w, "bad request %s auth=%s sig=%s", r.URL.RequestURI(), r.Header.Get("Authorization"), r.Header.Get("X-Sitrep-Signature"))
		}))
		hook := webhooks.Hook{Name: "ops", Event: webhooks.IncidentTriggered, URL: srv.URL + "/in?token=${{ALERT.token}}",
			Headers: map[string]string{"Authorization": "Bearer header-secret-0123456789"}, SigningSecret: secret}
		c := New(Options{Client: srv.Client(), Secret: func(string) (string, bool) { return secret, true }})
		_, err := c.Deliver(context.Background(), delivery(t, hook))
		srv.Close()
		require.Error(t, err)
		assert.Equal(t, code < 500, adapters.IsPermanent(err), "%d keeps its class", code)
		assert.Contains(t, err.Error(), "bad request", "the receiver's reason is kept")
		assert.NotContains(t, err.Error(), token)
		assert.NotContains(t, err.Error(), "header-secret-0123456789")
		assert.NotContains(t, err.Error(), "v1=")
	}
}
