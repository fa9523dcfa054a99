package config_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	. "github.com/sitrep/sitrep/config"
)

const hooks = `webhooks:
  - name: statushub
    event: Any-Incident
    method: POST
    url: https://hooks.statushub.io/hooks/generic_v2?token=${{ALERT.StatusHubfield}}
  - name: statuscast
    event: Incident-Triggered
    content_type: application/json
    url: https://yourapp.statuscast.com/webhook/victorops?key=castkey0123456789
    headers: {Authorization: "Bearer hdrtoken0123456789"}
    payload: |
      {
      monitorName: "${{ALERT.monitor_name}}",
      state: "${{ALERT.entity_state}}"
      }
    signing_secret: sigsecret0123456789
`

func TestWebhooks(t *testing.T) {
	c, err := Parse([]byte(base+hooks), "config.yaml", envOf(map[string]string{"SITREP_WEBHOOK_STATUSHUB_SIGNING_SECRET": "fromenv-secret-0123456789"}), all()...)
	require.NoError(t, err)
	require.Len(t, c.Webhooks, 2)
	assert.Equal(t, "fromenv-secret-0123456789", c.Webhooks[0].SigningSecret)
	assert.Contains(t, c.Webhooks[1].Payload, `monitorName: "${{ALERT.monitor_name}}"`, "seed 001's payload, pasted as it is")
	r := c.Redacted()
	assert.Equal(t, "https://hooks.statushub.io/hooks/generic_v2?token=${{ALERT.StatusHubfield}}", r.Webhooks[0].URL, "a placeholder is no secret")
	assert.Equal(t, "https://yourapp.statuscast.com/webhook/victorops?key=****6789", r.Webhooks[1].URL)
	assert.Equal(t, "****6789", r.Webhooks[1].Headers["Authorization"])
	assert.Equal(t, "****6789", r.Webhooks[1].SigningSecret)
	assert.Contains(t, c.Webhooks[1].SigningSecret, "sigsecret", "Redacted is a copy")
}

func TestWebhookErrors(t *testing.T) {
	cases := []struct {
		name, doc, key, msg string
	}{
		{"not http", "webhooks:\n  - {name: h, event: Any-Incident, url: 'ftp://x.example/h?token=abcd0123456789'}\n", "webhooks[0].url", "http:// or https://"},
		{"bad template", "webhooks:\n  - {name: h, event: Any-Incident, url: 'https://x.example/h?token=${{ALERT.key'}\n", "webhooks[0].url", "unclosed"},
		{"unknown event", "webhooks:\n  - {name: h, event: Incident-Exploded, url: 'https://x.example/h'}\n", "webhooks[0].event", "unknown event"},
		{"unknown method", "webhooks:\n  - {name: h, event: Any-Incident, method: FETCH, url: 'https://x.example/h'}\n", "webhooks[0].method", "unknown method"},
		{"payload template", "webhooks:\n  - {name: h, event: On-Call, url: 'https://x.example/h', payload: '${{ALERT.x}}'}\n", "webhooks[0].payload", "want ONCALL"},
		{"short secret", "webhooks:\n  - {name: h, event: Any-Incident, url: 'https://x.example/h', signing_secret: abc}\n", "webhooks[0].signing_secret", "too short"},
		{"unknown key", "webhooks:\n  - {name: h, event: Any-Incident, url: 'https://x.example/h', to: 'https://x'}\n", "webhooks[0].to", "unknown key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			errs := parseErrs(t, base+tc.doc, noEnv)
			var found bool
			for _, e := range errs {
				if e.Key == tc.key {
					found = true
					assert.Contains(t, e.Msg, tc.msg)
					assert.NotZero(t, e.Line, "the problem points at its line")
				}
				assert.NotContains(t, e.Error(), "0123456789", "a webhook's token is never shown")
			}
			assert.True(t, found, "no problem at %s in %v", tc.key, errs)
		})
	}
}
