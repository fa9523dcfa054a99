package bot

import (
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const paymentsNotifyToken = "payments-notify-token-0005"

// hipchatRoomConfig gives the payments web room the HipChat number 1234 and a
// notify token of its own.
func hipchatRoomConfig(t testing.TB) string {
	return baseConfig(newDataPath(t), "    hipchat_ids: ['1234']\n    notify_token: "+paymentsNotifyToken+"\n")
}

// The seed-004 webhook, its room ID migrated to a sitrep web room: the notice
// is durable before the 204 and then shows in the room; bad requests show nothing.
func TestHipChatNotificationReachesWebRoom(t *testing.T) {
	tb := startBot(t, hipchatRoomConfig(t))
	room := tb.join(t, "payments")

	code, body := tb.do(t, "POST", "/v2/room/1234/notification?auth_token="+paymentsNotifyToken, "",
		map[string]any{"message": "x", "color": "blue"})
	require.Equal(t, http.StatusBadRequest, code, "%v", body)
	code, body = tb.do(t, "POST", "/v2/room/ops/notification?auth_token="+paymentsNotifyToken, "",
		map[string]any{"message": "not for ops"})
	require.Equal(t, http.StatusUnauthorized, code, "%v", body)

	code, body = tb.do(t, "POST", "/v2/room/1234/notification?auth_token="+paymentsNotifyToken, "",
		map[string]any{"color": "red", "message": "db-1 disk full", "notify": true, "message_format": "text"})
	require.Equal(t, http.StatusNoContent, code, "%v", body)
	f := room.waitFor(t, 5*time.Second, "the notice", textHas("db-1 disk full"))
	assert.Equal(t, "red", f["color"])
	for _, f := range room.drain(200 * time.Millisecond) {
		assert.NotContains(t, f["text"], "x", "the rejected notice is not posted")
	}
	assert.NotContains(t, tb.logs.String(), paymentsNotifyToken)

	code, body = tb.do(t, "POST", "/v2/room/payments/notification", ingestToken,
		map[string]any{"message": "<b>deploy</b> done<script>x()</script>", "card": map[string]any{"title": "Deploy"}})
	require.Equal(t, http.StatusNoContent, code, "%v", body)
	f = room.waitFor(t, 5*time.Second, "the html notice", textHas("deploy done"))
	assert.NotContains(t, f["text"], "x()")
}

// hipchatter, a HipChat v2 client from npm, used unchanged against sitrep.
func TestHipChatNPMClient(t *testing.T) {
	dir, err := filepath.Abs(filepath.Join("..", "hipchatapi", "testdata"))
	require.NoError(t, err)
	node, err := exec.LookPath("node")
	_, modErr := os.Stat(filepath.Join(dir, "node_modules", "hipchatter", "package.json"))
	if missing := errors.Join(err, modErr); missing != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("node and hipchatter are required in CI (.ci/run installs them): %v", missing)
		}
		t.Skipf("needs node and hipchatter (npm ci in hipchatapi/testdata): %v", missing)
	}
	tb := startBot(t, hipchatRoomConfig(t))
	room := tb.join(t, "payments")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "client.js", tb.URL, paymentsNotifyToken, "1234")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "sent 204")
	assert.Contains(t, string(out), "rejected: Invalid color", "the client surfaces HipChat's error message")
	room.waitFor(t, 5*time.Second, "hipchatter's notice", textHas("db-1 disk full (from hipchatter)"))
	assert.NotContains(t, strings.ToLower(tb.logs.String()), paymentsNotifyToken)
}
