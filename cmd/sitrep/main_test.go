package main

import (
	"bytes"
	"context"
	"github.com/sitrep/sitrep/bot"
	"github.com/sitrep/sitrep/config"
	"github.com/sitrep/sitrep/platforms"
	"github.com/sitrep/sitrep/storage"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCommands(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("listen: 127.0.0.1:8080\ningest_token: a-token-for-ingest\nadmin_token: a-token-for-admin\ndefault_room: ops\nrooms:\n  - {name: ops, platform: webroom}\nroutes:\n  - name: r\n    matchers: ['x=~\"(\"']\n    rooms: [nowhere]\nlisen: x\n"), 0o600))
	example := filepath.Join("..", "..", "config.example.yaml")
	data := filepath.Join(dir, "sitrep.db")
	db, err := storage.Open(data, storage.Options{NoSync: true})
	require.NoError(t, err)
	require.NoError(t, db.Close())
	hooked := filepath.Join(dir, "hooks.yaml")
	require.NoError(t, os.WriteFile(hooked, []byte("ingest_token: a-token-for-ingest\nadmin_token: a-token-for-admin\ndefault_room: ops\nrooms:\n  - {name: ops, platform: webroom}\n"+
		"routes:\n  - {name: key, matchers: ['monitoring_tool=\"Cloudwatch\"'], set: {StatusHubfield: hubkey-0123456789wxyz}, continue: true}\n"+
		"webhooks:\n  - {name: statushub, event: Any-Incident, url: 'https://hooks.statushub.io/hooks/generic_v2?token=${{ALERT.StatusHubfield}}'}\n"+
		"  - {name: bad, event: Incident-Exploded, url: 'ftp://x.example/y'}\n"), 0o600))
	fixed := filepath.Join(dir, "fixed.yaml")
	raw, err := os.ReadFile(hooked)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(fixed, bytes.Split(raw, []byte("  - {name: bad"))[0], 0o600))

	tests := []struct {
		name     string
		args     []string
		code     int
		stdout   []string
		stderr   []string
		noOutput []string
	}{
		{"version", []string{"version"}, 0, []string{"sitrep"}, nil, nil},
		{"serve --help lists its flags", []string{"serve", "--help"}, 0, []string{"usage: sitrep serve", "-config", "-listen", "-data"}, nil, nil},
		{"rooms -h lists its flags", []string{"rooms", "-h"}, 0, []string{"-config"}, nil, nil},
		{"no command", nil, 2, nil, []string{"usage"}, nil},
		{"unknown command", []string{"launch"}, 2, nil, []string{`unknown command "launch"`}, nil},
		{"example config checks", []string{"config", "check", "--config", example}, 0, []string{"ok", "default room ops"}, nil, nil},
		{"config check needs a file", []string{"config", "check"}, 2, nil, []string{"--config FILE is required"}, nil},
		{"bad config names key and line", []string{"config", "check", "--config", bad}, 1, nil,
			[]string{"bad.yaml:11", "lisen", "routes[0]", "matchers[0]", "rooms[0]", "nowhere"}, []string{"a-token-for"}},
		{"route test explains", []string{"route", "test", "--config", example, "routing_key=payments"}, 0, []string{"payments"}, nil, nil},
		{"route test default room", []string{"route", "test", "--config", example, "routing_key=other"}, 0, []string{"ops"}, nil, nil},
		{"route test json", []string{"route", "test", "--config", example, "--json", "routing_key=payments"}, 0, []string{`"rules"`}, nil, nil},
		{"route test needs fields", []string{"route", "test", "--config", example}, 2, nil, []string{"field=value"}, nil},
		{"compact reports sizes", []string{"compact", "--data", data}, 0, []string{"compacted " + data, "bytes before", "after"}, nil, nil},
		{"compact needs a file", []string{"compact"}, 2, nil, []string{"--data FILE is required"}, nil},
		{"compact of no file", []string{"compact", "--data", filepath.Join(dir, "none.db")}, 1, nil, []string{"no such file"}, nil},
		{"bad webhooks name their fields", []string{"config", "check", "--config", hooked}, 1, nil,
			[]string{"hooks.yaml:10", "webhooks[1].event", "unknown event", "webhooks[1].url", "http://"}, nil},
		{"route test lists the webhooks that fire", []string{"route", "test", "--config", fixed, "monitoring_tool=Cloudwatch"}, 0,
			[]string{"⇒ webhook statushub (Any-Incident): POST https://hooks.statushub.io/hooks/generic_v2?token=****wxyz"}, nil, []string{"hubkey-0123456789"}},
		{"route test says why a webhook does not fire", []string{"route", "test", "--config", fixed, "monitoring_tool=Nagios"}, 0,
			[]string{"✗ webhook statushub (Any-Incident): does not fire: template names unset field ALERT.StatusHubfield"}, nil, nil},
		{"rooms never show tokens", []string{"rooms", "--config", example}, 0, []string{"ops", "payments"}, nil, []string{"demo-"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(tt.args, &out, &errOut)
			assert.Equal(t, tt.code, code, "stdout: %s\nstderr: %s", out.String(), errOut.String())
			for _, s := range tt.stdout {
				assert.Contains(t, out.String(), s)
			}
			for _, s := range tt.stderr {
				assert.Contains(t, errOut.String(), s)
			}
			for _, s := range tt.noOutput {
				assert.NotContains(t, out.String()+errOut.String(), s)
			}
		})
	}
}

func TestRefuseDemoTokensOffLoopback(t *testing.T) {
	cfg, err := loadConfig(filepath.Join("..", "..", "config.example.yaml"))
	require.NoError(t, err)
	require.NoError(t, refuseDemoTokens(cfg))
	cfg.Listen = "0.0.0.0:8080"
	assert.ErrorContains(t, refuseDemoTokens(cfg), "demo")
	cfg.IngestToken, cfg.AdminToken = "real-ingest-token-123", "real-admin-token-456"
	assert.NoError(t, refuseDemoTokens(cfg))
}

// route test and rooms with --url ask the running server, which may have
// routes and rooms the config file does not.
func TestCommandsAskTheRunningServer(t *testing.T) {
	dir := t.TempDir()
	doc := "listen: 127.0.0.1:0\ndata: " + filepath.Join(dir, "s.db") + "\ningest_token: ingest-token-0123\nadmin_token: admin-token-0123\ndefault_room: ops\nrooms:\n  - {name: ops, platform: webroom}\n"
	cfg, err := config.Parse([]byte(doc), "t.yaml", nil, platforms.All().Config()...)
	require.NoError(t, err)
	b, err := bot.New(cfg, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	url := "http://" + ln.Addr().String()
	t.Setenv("SITREP_ADMIN_TOKEN", "admin-token-0123")
	require.Eventually(t, func() bool {
		res, err := http.Get(url + "/readyz")
		if err == nil {
			_ = res.Body.Close()
		}
		return err == nil && res.StatusCode == http.StatusOK
	}, 5*time.Second, 10*time.Millisecond)
	put := func(path, body string) {
		req, _ := http.NewRequest(http.MethodPut, url+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer admin-token-0123")
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_ = res.Body.Close()
		require.Less(t, res.StatusCode, 300)
	}
	put("/v1/rooms/war-room", `{"platform":"webroom"}`)
	put("/v1/routes", `{"routes":[{"name":"db","matchers":["service=\"db\""],"rooms":["war-room"]}]}`)

	var out, errOut bytes.Buffer
	require.Equal(t, 0, run([]string{"route", "test", "--url", url, "service=db"}, &out, &errOut), errOut.String())
	assert.Contains(t, out.String(), "war-room", "the server's routes, not the file's")
	assert.Contains(t, errOut.String(), "running server")
	out.Reset()
	require.Equal(t, 0, run([]string{"rooms", "--url", url}, &out, &errOut), errOut.String())
	assert.Contains(t, out.String(), "war-room")
	t.Setenv("SITREP_ADMIN_TOKEN", "wrong")
	assert.Equal(t, 1, run([]string{"rooms", "--url", url}, &out, &errOut))
	assert.Contains(t, errOut.String(), "401")
}
