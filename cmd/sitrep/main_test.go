package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCommands(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("listen: 127.0.0.1:8080\ningest_token: a-token-for-ingest\nadmin_token: a-token-for-admin\ndefault_room: ops\nrooms:\n  - {name: ops, platform: webroom}\nroutes:\n  - name: r\n    matchers: ['x=~\"(\"']\n    rooms: [nowhere]\nlisen: x\n"), 0o600))
	example := filepath.Join("..", "..", "config.example.yaml")

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
