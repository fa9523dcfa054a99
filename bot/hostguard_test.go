package bot

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A DNS-rebinding page: a foreign name that resolves to 127.0.0.1, with a
// matching Origin. Pages, websockets and the admin API all refuse it.
func TestDNSRebindingIsRefused(t *testing.T) {
	tb := startBot(t, baseConfig(newDataPath(t), "web:\n  allowed_hosts: [ops.internal]\n"))
	port := tb.URL[strings.LastIndex(tb.URL, ":"):]
	get := func(host, path, token string) int {
		req, err := http.NewRequest(http.MethodGet, tb.URL+path, nil)
		require.NoError(t, err)
		req.Host = host
		req.Header.Set("Origin", "http://"+host)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_ = res.Body.Close()
		return res.StatusCode
	}
	for _, tc := range []struct {
		name, host, path, token string
		want                    int
	}{
		{"room page", "evil.example" + port, "/rooms/ops", "", http.StatusForbidden},
		{"admin API, even with the token", "evil.example" + port, "/v1/incidents", adminToken, http.StatusForbidden},
		{"room page by loopback", "127.0.0.1" + port, "/rooms/ops", "", http.StatusOK},
		{"room page by localhost", "localhost" + port, "/rooms/ops", "", http.StatusOK},
		{"room page by an allowed host", "ops.internal" + port, "/rooms/ops", "", http.StatusOK},
		{"health checks by any name", "10.1.2.3" + port, "/healthz", "", http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, get(tc.host, tc.path, tc.token))
		})
	}

	ws := strings.Replace(tb.URL, "http://", "ws://", 1) + "/rooms/ops/ws"
	_, res, err := websocket.DefaultDialer.Dial(ws, http.Header{"Host": {"evil.example" + port}, "Origin": {"http://evil.example" + port}})
	require.Error(t, err, "the websocket is refused")
	require.NotNil(t, res)
	assert.Equal(t, http.StatusForbidden, res.StatusCode)
	assert.Contains(t, tb.logs.String(), "evil.example")
}

// The access log: refusals and admin writes at info, accepted alerts at debug.
func TestAccessLogLevels(t *testing.T) {
	tb := startBot(t, baseConfig(newDataPath(t), ""))
	tb.alert(t, map[string]any{"message_type": "CRITICAL", "entity_id": "acc-1"})
	code, _ := tb.do(t, http.MethodPost, "/v1/alerts", "wrong-token", map[string]any{"message_type": "CRITICAL"})
	require.Equal(t, http.StatusUnauthorized, code)
	code, _ = tb.do(t, http.MethodPut, "/v1/routes", adminToken, map[string]any{"routes": []any{}})
	require.Equal(t, http.StatusOK, code)
	var accepted, refused, admin string
	for _, line := range strings.Split(tb.logs.String(), "\n") {
		switch {
		case strings.Contains(line, "msg=http") && strings.Contains(line, "path=/v1/alerts") && strings.Contains(line, "status=202"):
			accepted = line
		case strings.Contains(line, "msg=http") && strings.Contains(line, "path=/v1/alerts") && strings.Contains(line, "status=401"):
			refused = line
		case strings.Contains(line, "msg=http") && strings.Contains(line, "method=PUT path=/v1/routes"):
			admin = line
		}
	}
	assert.Contains(t, accepted, "level=DEBUG")
	assert.Contains(t, refused, "level=INFO")
	assert.Contains(t, admin, "level=INFO")
	assert.NotContains(t, tb.logs.String(), "wrong-token")
}
