package bot

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// freePort is a loopback port nothing listens on (just now).
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Prometheus Alertmanager from Debian sends its real webhooks to sitrep: an
// alert fires, then resolves, and so does the incident.
func TestRealAlertmanagerOpensAndResolves(t *testing.T) {
	bin, err := exec.LookPath("prometheus-alertmanager")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("prometheus-alertmanager not found: .ci/run installs Debian's package")
		}
		t.Skip("prometheus-alertmanager not found (apt-get install prometheus-alertmanager)")
	}
	tb := startBot(t, baseConfig(newDataPath(t), ""))
	dir := t.TempDir()
	cfg := fmt.Sprintf(`route:
  receiver: sitrep
  group_by: [alertname, instance]
  group_wait: 100ms
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: sitrep
    webhook_configs:
      - url: '%s/v1/hooks/alertmanager?token=%s'
        send_resolved: true
`, tb.URL, ingestToken)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "alertmanager.yml"), []byte(cfg), 0o600))
	amURL := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--config.file="+filepath.Join(dir, "alertmanager.yml"),
		"--storage.path="+dir, "--web.listen-address="+amURL[len("http://"):], "--cluster.listen-address=")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("alertmanager:\n%s", out.String())
		}
	})
	require.Eventually(t, func() bool {
		res, err := http.Get(amURL + "/-/ready")
		if err == nil {
			_ = res.Body.Close()
		}
		return err == nil && res.StatusCode == http.StatusOK
	}, 20*time.Second, 50*time.Millisecond, "alertmanager ready")

	send := func(ends time.Time) {
		alert := map[string]any{
			"labels":      map[string]string{"alertname": "DiskFull", "instance": "db-7", "severity": "page"},
			"annotations": map[string]string{"summary": "disk full on db-7"},
			"startsAt":    time.Now().Add(-time.Minute).UTC().Format(time.RFC3339),
		}
		if !ends.IsZero() {
			alert["endsAt"] = ends.UTC().Format(time.RFC3339)
		}
		body, _ := json.Marshal([]any{alert})
		res, err := http.Post(amURL+"/api/v2/alerts", "application/json", bytes.NewReader(body))
		require.NoError(t, err)
		_ = res.Body.Close()
		require.Equal(t, http.StatusOK, res.StatusCode)
	}
	state := func() string {
		_, body := tb.do(t, http.MethodGet, "/v1/incidents", adminToken, nil)
		incs, _ := body["incidents"].([]any)
		if len(incs) != 1 {
			return ""
		}
		inc := incs[0].(map[string]any)
		if inc["title"] != "disk full on db-7" {
			return "wrong title: " + fmt.Sprint(inc["title"])
		}
		return inc["state"].(string)
	}
	send(time.Time{})
	require.Eventually(t, func() bool { return state() == "triggered" }, 30*time.Second, 100*time.Millisecond, "the incident opens")
	send(time.Now())
	require.Eventually(t, func() bool { return state() == "resolved" }, 30*time.Second, 100*time.Millisecond, "and resolves")
}
