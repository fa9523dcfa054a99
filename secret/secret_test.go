package secret

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestEqual(t *testing.T) {
	tests := []struct {
		name      string
		got, want string
		ok        bool
	}{
		{"match", "abc123", "abc123", true},
		{"mismatch", "abc124", "abc123", false},
		{"prefix", "abc", "abc123", false},
		{"empty want never matches", "", "", false},
		{"empty got", "", "abc", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.ok, Equal(tt.got, tt.want))
		})
	}
}

func TestRedact(t *testing.T) {
	tests := []struct{ in, out string }{
		{"", ""},
		{"short", "****"},
		{"abcdefghijk", "****"},
		{"0123456789abcdef", "****cdef"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.out, Redact(tt.in), tt.in)
	}
}

func TestLooksSecret(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"auth_token", true}, {"Slack_Signing_Secret", true}, {"password", true},
		{"routing_key", false}, {"room_id", false}, {"entity_id", false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, LooksSecret(tt.name), tt.name)
	}
}

func TestRedactFields(t *testing.T) {
	assert.Nil(t, RedactFields(nil))
	in := map[string]string{"routing_key": "payments", "auth_token": "room-token-123456", "Password": "hunter2"}
	assert.Equal(t, map[string]string{"routing_key": "payments", "auth_token": "****3456", "Password": "****"}, RedactFields(in))
	assert.Equal(t, "room-token-123456", in["auth_token"], "the input is not changed")
}

func TestBearer(t *testing.T) {
	tests := []struct {
		header, want string
		ok           bool
	}{
		{"Bearer abc", "abc", true},
		{"bearer  abc ", "abc", true},
		{"Bearer ", "", false},
		{"Basic abc", "", false},
		{"Bearerabc", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if tt.header != "" {
			r.Header.Set("Authorization", tt.header)
		}
		got, ok := Bearer(r)
		assert.Equal(t, tt.want, got, tt.header)
		assert.Equal(t, tt.ok, ok, tt.header)
	}
}

func TestLooksSecretValue(t *testing.T) {
	for _, tc := range []struct {
		v    string
		want bool
	}{
		{"https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXX", true},
		{"https://discord.com/api/webhooks/123/abcdefgh", true},
		{"https://acme.webhook.office.com/webhookb2/1234@5678/IncomingWebhook/abc", true},
		{"https://chat.example.com/hooks/xyz123abc", true},
		{"https://user:pass@db.example.com/x", true},
		{"https://api.example.com/v1?token=abcdef123", true},
		{"https://api.example.com/v1?api_key=abcdef123", true},
		{"https://s3.example.com/obj?X-Amz-Signature=abcdef", true},
		{"https://hooks.statushub.io/hooks/generic_v2?token=abc123", true},
		{"xoxb-1234-5678-abcdefgh", true},
		{"xapp-1-A0-123-abc", true},
		{"ghp_abcdefghijklmnop", true},
		{"AKIAIOSFODNN7EXAMPLE", true},
		{"Bearer eyJhbGciOi", true},
		{"https://wiki.example.com/runbooks/db", false},
		{"https://grafana.example.com/d/abc?orgId=1&from=now-1h", false},
		{"https://example.com/hooks/", false},
		{"db-1 disk full", false},
		{"xoxb-", false},
		{"payments", false},
		{"", false},
	} {
		t.Run(tc.v, func(t *testing.T) {
			assert.Equal(t, tc.want, LooksSecretValue(tc.v))
			assert.Equal(t, tc.want, Hides("url", tc.v))
		})
	}
	assert.True(t, Hides("auth_token", "x"), "a secret name hides any value")
	assert.Equal(t, "****XXXX", RedactField("webhook_url", "https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXX"))
}
