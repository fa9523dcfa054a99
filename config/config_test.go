package config_test

import (
	"errors"
	"github.com/sitrep/sitrep/adapters/hipchat"
	"github.com/sitrep/sitrep/adapters/webroom"
	. "github.com/sitrep/sitrep/config"
	"github.com/sitrep/sitrep/platforms"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sitrep/sitrep/rooms"
)

// base is a minimal valid config of 6 lines; cases append from line 7 on.
const base = `ingest_token: ingest-0123456789
admin_token: admin-0123456789
default_room: ops
rooms:
  - name: ops
    platform: webroom
`

func noEnv(string) string { return "" }

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// problems parses doc, requires it to fail, and returns the problems.
func parseErrs(t *testing.T, doc string, env func(string) string) Errors {
	t.Helper()
	c, err := Parse([]byte(doc), "config.yaml", env, all()...)
	require.Error(t, err)
	assert.Nil(t, c)
	var errs *Errors
	require.ErrorAs(t, err, &errs)
	require.NotEmpty(t, *errs)
	return *errs
}

func find(errs Errors, key string) *Error {
	for _, e := range errs {
		if e.Key == key {
			return e
		}
	}
	return nil
}

func TestParseExample(t *testing.T) {
	data, err := os.ReadFile("../config.example.yaml")
	require.NoError(t, err)
	c, err := Parse(data, "config.example.yaml", noEnv, all()...)
	require.NoError(t, err)

	assert.Equal(t, "127.0.0.1:8080", c.Listen)
	assert.Equal(t, "sitrep.db", c.Data)
	assert.Equal(t, "http://127.0.0.1:8080", c.PublicURL)
	assert.Equal(t, Log{Format: "text", Level: "info"}, c.Log)
	assert.Equal(t, "demo-ingest-token", c.IngestToken)
	assert.Equal(t, "demo-admin-token", c.AdminToken)
	assert.Equal(t, "ops", c.DefaultRoom)
	assert.True(t, web(c).On())
	assert.Equal(t, 100, web(c).History)
	assert.Equal(t, Outbox{MaxAge: 24 * time.Hour, BaseBackoff: time.Second, MaxBackoff: 10 * time.Second}, c.Outbox)
	assert.False(t, hipchatOf(c).Enabled())
	assert.Equal(t, []string{"webroom", "hipchat", "slack", "discord", "statushub", "statuscast"}, c.Platforms())

	byName := c.RoomsByName()
	require.Len(t, byName, 2)
	assert.Equal(t, rooms.Room{Name: "ops", Platform: "webroom", ID: "ops", DisplayName: "Operations"}, byName["ops"])
	assert.Equal(t, "payments", byName["payments"].Team)
	assert.Equal(t, "payments", byName["payments"].ID)

	require.Len(t, c.Routes, 1)
	assert.Equal(t, []string{"payments"}, c.Routes[0].Rooms)
	assert.Equal(t, []string{`routing_key="payments"`}, c.Routes[0].Matchers)

	assert.Equal(t, RateLimit{Messages: 30, Per: time.Minute}, c.Limit("hipchat"))
	assert.Equal(t, RateLimit{Messages: 20, Per: time.Second}, c.Limit("webroom"))

	lines := strings.Split(string(data), "\n")
	for _, key := range []string{"listen", "rooms[1]", "rooms[1].team", "routes[0].matchers[0]", "hipchat.token", "web.history"} {
		l := c.Line(key)
		require.Positive(t, l, key)
		last := key[strings.LastIndexAny(key, ".]")+1:]
		if last != "" {
			assert.Contains(t, lines[l-1], last+":", "Line(%q) = %d", key, l)
		}
	}
	assert.Zero(t, c.Line("no.such.key"))
}

func TestParseDefaults(t *testing.T) {
	c, err := Parse([]byte(base), "config.yaml", noEnv, all()...)
	require.NoError(t, err)
	assert.Equal(t, DefaultListen, c.Listen)
	assert.Equal(t, DefaultData, c.Data)
	assert.Equal(t, "http://127.0.0.1:8080", c.PublicURL)
	assert.Equal(t, Log{Format: "text", Level: "info"}, c.Log)
	assert.True(t, web(c).On())
	assert.Equal(t, 100, web(c).History)
	assert.Equal(t, Outbox{MaxAge: 24 * time.Hour, BaseBackoff: time.Second, MaxBackoff: 10 * time.Second}, c.Outbox)
	assert.Equal(t, RateLimit{Messages: 20, Per: time.Second}, c.Limit("webroom"))
	assert.Equal(t, RateLimit{}, c.Limit("telegram"))
}

func TestParseSettings(t *testing.T) {
	tests := []struct {
		name  string
		extra string
		check func(t *testing.T, c *Config)
	}{
		{"listen on every interface links through localhost", "listen: ':9000'\n", func(t *testing.T, c *Config) {
			assert.Equal(t, "http://localhost:9000", c.PublicURL)
		}},
		{"public_url is kept", "public_url: https://sitrep.example.com\n", func(t *testing.T, c *Config) {
			assert.Equal(t, "https://sitrep.example.com", c.PublicURL)
		}},
		{"web rooms off", "web: {enabled: false}\nhipchat: {base_url: https://hc.example.com}\nrooms: [{name: ops, platform: hipchat, id: '1', token: room-token-0123456789}]\n", func(t *testing.T, c *Config) {
			assert.False(t, web(c).On())
		}},
		{"history 0 written out means none", "web: {history: 0}\n", func(t *testing.T, c *Config) {
			assert.Zero(t, web(c).History)
		}},
		{"a rate limit field left out takes the default", "rate_limits:\n  hipchat: {messages: 3}\n", func(t *testing.T, c *Config) {
			assert.Equal(t, RateLimit{Messages: 3, Per: time.Minute}, c.Limit("hipchat"))
			assert.Equal(t, RateLimit{Messages: 20, Per: time.Second}, c.Limit("webroom"))
		}},
		{"hipchat settings are read", "hipchat: {base_url: https://hc.example.com, webhook_token: hook-0123456789}\n", func(t *testing.T, c *Config) {
			assert.True(t, hipchatOf(c).Enabled())
			assert.Equal(t, "hook-0123456789", hipchatOf(c).WebhookToken)
		}},
		{"hipchat room with its own token", "hipchat: {base_url: https://hc.example.com}\nrooms:\n  - {name: ops, platform: hipchat, id: '42', token: room-token-0123456789}\n", func(t *testing.T, c *Config) {
			assert.Equal(t, "room-token-0123456789", c.RoomsByName()["ops"].Token)
		}},
		{"anchors and merge keys", "rooms:\n  - &room {name: ops, platform: webroom, team: a}\n  - {<<: *room, name: two}\n", func(t *testing.T, c *Config) {
			require.Len(t, c.Rooms, 2)
			assert.Equal(t, rooms.Room{Name: "two", Platform: "webroom", Team: "a"}, c.Rooms[1])
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Later keys replace base's: yaml merges are not involved, so drop base's copies.
			doc := dropKeys(base, tt.extra) + tt.extra
			c, err := Parse([]byte(doc), "config.yaml", noEnv, all()...)
			require.NoError(t, err)
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

// dropKeys removes from doc the top-level keys (and their blocks) that extra sets.
func dropKeys(doc, extra string) string {
	set := map[string]bool{}
	for _, l := range strings.Split(extra, "\n") {
		if k, _, ok := strings.Cut(l, ":"); ok && !strings.HasPrefix(l, " ") {
			set[k] = true
		}
	}
	var out []string
	skip := false
	for _, l := range strings.Split(strings.TrimSuffix(doc, "\n"), "\n") {
		if !strings.HasPrefix(l, " ") {
			k, _, _ := strings.Cut(l, ":")
			skip = set[k]
		}
		if !skip {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n") + "\n"
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		key  string
		line int
		msg  string
	}{
		{"unknown top-level key", base + "lisen: 127.0.0.1:80\n", "lisen", 7,
			"unknown key (known: listen, data, public_url, log, ingest_token, admin_token, default_room, rooms, teams, routes, outbox, ingest, rate_limits, status_pages, default_status_page, status_admins, webhooks, schedules, users, retention, web, hipchat, slack, discord)"},
		{"unknown nested key", base + "web:\n  histroy: 5\n", "web.histroy", 8,
			"unknown key (known: enabled, key, history, allowed_origins, allowed_hosts, users)"},
		{"unknown key in a room", base + "  - name: pay\n    platfrom: webroom\n", "rooms[1].platfrom", 8, "unknown key (known: name, platform, id, token, team, display_name, threads, hipchat_ids, notify_token)"},
		{"unknown key in a route", base + "routes:\n  - name: r\n    room: [ops]\n", "routes[0].room", 9, "unknown key (known: name, matchers, rooms, set, message, continue, status_page, escalate)"},
		{"string where a number goes", base + "web:\n  history: lots\n", "web.history", 8, `expected a whole number, got "lots"`},
		{"mapping where a string goes", base + "listen:\n  host: x\n", "listen", 7, "expected a string, got a mapping"},
		{"value where a list goes", base + "routes: everything\n", "routes", 7, "expected a list, got a value"},
		{"not a bool", base + "web: {enabled: sometimes}\n", "web.enabled", 7, `expected true or false, got "sometimes"`},
		{"bad duration", base + "outbox:\n  max_age: 1 day\n", "outbox.max_age", 8, `expected a duration such as "30s", "5m" or "24h", got "1 day"`},
		{"duration without unit", base + "rate_limits:\n  hipchat: {messages: 1, per: 60}\n", "rate_limits.hipchat.per", 8, "expected a duration"},
		{"duplicate key", base + "listen: 127.0.0.1:1\nlisten: 127.0.0.1:2\n", "listen", 8, "duplicate key (first at line 7)"},
		{"duplicate room", base + "  - name: ops\n    platform: webroom\n", "rooms[1].name", 7, `duplicate room name "ops": also rooms[0].name (line 5)`},
		{"unknown default_room", strings.Replace(base, "default_room: ops", "default_room: opz", 1), "default_room", 3, `"opz" is not one of the rooms (ops)`},
		{"missing default_room", strings.Replace(base, "default_room: ops\n", "", 1), "default_room", 0, "required"},
		{"token on a web room", base + "    token: abc\n", "rooms[0].token", 7, "takes no per-room token"},
		{"room without platform", base + "  - name: pay\n", "rooms[1].platform", 7, "required"},
		{"invalid room name", base + "  - name: 'no spaces'\n    platform: webroom\n", "rooms[1].name", 7, "not a valid room name"},
		{"room on a platform this build lacks", base + "  - {name: s, platform: telegram, id: \"1\"}\n", "rooms[1].platform", 7, `unknown platform "telegram": one of webroom, hipchat, slack, discord`},
		{"room on a platform that is off", base + "  - {name: s, platform: slack, id: C1}\n", "rooms[1].platform", 7, "Slack is off: set slack.bot_token"},
		{"hipchat room named, not numbered", base + "  - {name: h, platform: hipchat, id: ops, token: room-token-0123456789}\nhipchat: {base_url: https://hc.example.com}\n", "rooms[1].id", 7, "a HipChat room's id is its number"},
		{"hipchat room while hipchat is off", base + "  - {name: h, platform: hipchat, id: '1', token: room-token-0123456789}\n", "rooms[1].platform", 7, "HipChat is off: set hipchat.base_url"},
		{"bad hipchat base_url", base + "hipchat: {base_url: 'hc.example.com'}\n", "hipchat.base_url", 7, "absolute http:// or https:// URL"},
		{"hipchat room without a token", base + "  - {name: h, platform: hipchat, id: '1'}\nhipchat: {base_url: https://hc.example.com}\n", "rooms[1].token", 7, "required for a HipChat room"},
		{"web room while web is off", base + "web: {enabled: false}\n", "rooms[0].platform", 6, "web rooms are off"},
		{"route to an unknown room", base + "routes:\n  - name: r\n    matchers: ['service=\"db\"']\n    rooms: [ops, nope]\n", "routes[0].rooms[1]", 10, "nope"},
		{"bad regex in a matcher", base + "routes:\n  - name: r\n    matchers: ['service=\"db\"', 'host=~\"(\"']\n    rooms: [ops]\n", "routes[0].matchers[1]", 9, "("},
		{"missing ingest token", strings.Replace(base, "ingest_token: ingest-0123456789\n", "", 1), "ingest_token", 0, "required: set it here or in SITREP_INGEST_TOKEN"},
		{"empty admin token", strings.Replace(base, "admin_token: admin-0123456789", "admin_token: ''", 1), "admin_token", 2, "required: set it here or in SITREP_ADMIN_TOKEN"},
		{"same token for ingest and admin", strings.Replace(base, "admin-0123456789", "ingest-0123456789", 1), "admin_token", 2, "must differ from ingest_token"},
		{"unknown rate-limit platform", base + "rate_limits:\n  telegram: {messages: 1, per: 1s}\n", "rate_limits.telegram", 8, "unknown platform (known: webroom, hipchat, slack, discord, statushub, statuscast)"},
		{"rate limit of zero", base + "rate_limits:\n  hipchat: {messages: 0, per: 1s}\n", "rate_limits.hipchat.messages", 8, "must be at least 1"},
		{"zero outbox duration", base + "outbox:\n  base_backoff: 0s\n", "outbox.base_backoff", 8, "must be longer than 0"},
		{"negative outbox duration", base + "outbox:\n  max_backoff: -5m\n", "outbox.max_backoff", 8, "must be longer than 0"},
		{"backoff above its cap", base + "outbox:\n  base_backoff: 10m\n", "outbox.base_backoff", 8, "must not be longer than outbox.max_backoff"},
		{"listen without port", base + "listen: localhost\n", "listen", 7, `expected host:port such as 127.0.0.1:8080, got "localhost"`},
		{"listen with bad port", base + "listen: localhost:http\n", "listen", 7, "port must be a number"},
		{"bad log level", base + "log: {level: verbose}\n", "log.level", 7, `expected debug, info, warn or error, got "verbose"`},
		{"bad log format", base + "log: {format: xml}\n", "log.format", 7, `expected text or json, got "xml"`},
		{"relative public_url", base + "public_url: /sitrep\n", "public_url", 7, "absolute http:// or https:// URL"},
		{"origin with a path", base + "web:\n  allowed_origins:\n    - https://ok.example.com\n    - https://x.example.com/app\n", "web.allowed_origins[1]", 10, "expected an origin"},
		{"negative history", base + "web: {history: -1}\n", "web.history", 7, "must not be negative"},
		{"allowed host with a path", base + "web:\n  allowed_hosts: [ok.example, 'x.example/app']\n", "web.allowed_hosts[1]", 8, "expected a host name"},
		{"negative field cap", base + "ingest: {max_fields: -1}\n", "ingest.max_fields", 7, "must not be negative"},
		{"unknown time zone", base + "teams:\n  - {name: payments, time_zone: Mars/Olympus}\n", "teams[0].time_zone", 8, "unknown time zone"},
		{"duplicate team", base + "teams:\n  - {name: payments}\n  - {name: payments}\n", "teams[1].name", 9, "duplicate team"},
		{"team without a name", base + "teams:\n  - {time_zone: UTC}\n", "teams[0].name", 8, "not a valid team name"},
		{"top level is a list", "- a\n- b\n", "", 1, "the top level must be a mapping"},
		{"empty file", "", "", 0, "empty"},
		{"only comments", "# nothing here\n", "", 0, "empty"},
		{"unclosed list", base + "web: [unclosed\n", "", 7, "invalid YAML: did not find expected ',' or ']'"},
		{"unclosed list on the only line", "web: [unclosed", "", 1, "invalid YAML"},
		{"missing key before a list item", base + "- x\n", "", 7, "invalid YAML: did not find expected key"},
		{"colon in a plain value", base + "web:\n  key: a: b\n", "", 8, "invalid YAML: mapping values are not allowed in this context"},
		{"tab indentation", base + "web:\n\tkey: a\n", "", 8, "invalid YAML"},
		{"two documents", base + "---\nlisten: x\n", "", 7, "only one YAML document"},
		{"key that is not a name", base + "? [a, b]\n: c\n", "", 7, "keys must be plain names"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := parseErrs(t, tt.doc, noEnv)
			e := find(errs, tt.key)
			require.NotNil(t, e, "no problem with key %q in:\n%v", tt.key, errs)
			assert.Equal(t, tt.line, e.Line, "%v", e)
			assert.Contains(t, e.Msg, tt.msg)
			assert.Equal(t, "config.yaml", e.File)
		})
	}
}

func TestErrorFormat(t *testing.T) {
	errs := parseErrs(t, base+"web:\n  histroy: 5\n", noEnv)
	assert.Equal(t, "config.yaml:8: web.histroy: unknown key (known: enabled, key, history, allowed_origins, allowed_hosts, users)", errs.Error())

	errs = parseErrs(t, strings.Replace(base, "ingest_token: ingest-0123456789\n", "", 1), noEnv)
	assert.Equal(t, "config.yaml: ingest_token: required: set it here or in SITREP_INGEST_TOKEN", errs.Error())

	assert.Equal(t, "rooms[0].id: required", (&Error{Key: "rooms[0].id", Msg: "required"}).Error())
}

func TestParseReportsEveryProblem(t *testing.T) {
	doc := `listen: nowhere
log:
  level: loud
ingest_token: ingest-0123456789
default_room: ops
web:
  histroy: 5
rooms:
  - name: ops
    platform: webroom
  - name: ops
    platform: irc
rate_limits:
  hipchat: {messages: -1, per: 1s}
`
	errs := parseErrs(t, doc, noEnv)
	var got []string
	for _, e := range errs {
		got = append(got, e.Key)
	}
	assert.Equal(t, []string{"listen", "log.level", "web.histroy", "rooms[1].name", "rooms[1].platform", "rate_limits.hipchat.messages", "admin_token"}, got,
		"every problem, in line order, those without a line last:\n%v", errs)
	assert.Len(t, strings.Split(errs.Error(), "\n"), len(errs))
}

func TestEnvOverrides(t *testing.T) {
	doc := base + "listen: 127.0.0.1:1\nhipchat: {token: hipchat-file-0123456789}\n"
	env := map[string]string{
		"SITREP_INGEST_TOKEN":          "ingest-from-env-0123",
		"SITREP_ADMIN_TOKEN":           "admin-from-env-0123",
		"SITREP_LISTEN":                "0.0.0.0:9090",
		"SITREP_DATA":                  "/var/lib/sitrep/db",
		"SITREP_WEB_KEY":               "web-key-from-env",
		"SITREP_HIPCHAT_TOKEN":         "hipchat-from-env",
		"SITREP_HIPCHAT_WEBHOOK_TOKEN": "hook-from-env",
	}
	c, err := Parse([]byte(doc), "config.yaml", envOf(env), all()...)
	require.NoError(t, err)
	assert.Equal(t, "ingest-from-env-0123", c.IngestToken)
	assert.Equal(t, "admin-from-env-0123", c.AdminToken)
	assert.Equal(t, "0.0.0.0:9090", c.Listen)
	assert.Equal(t, "http://localhost:9090", c.PublicURL)
	assert.Equal(t, "/var/lib/sitrep/db", c.Data)
	assert.Equal(t, "web-key-from-env", web(c).Key)
	assert.Equal(t, hipchat.Config{Token: "hipchat-from-env", WebhookToken: "hook-from-env"}, *hipchatOf(c), "the variable wins over the file")
}

func TestEnvOverrideEdges(t *testing.T) {
	t.Run("an empty variable does not override", func(t *testing.T) {
		c, err := Parse([]byte(base), "config.yaml", envOf(map[string]string{"SITREP_INGEST_TOKEN": ""}), all()...)
		require.NoError(t, err)
		assert.Equal(t, "ingest-0123456789", c.IngestToken)
	})
	t.Run("variables supply tokens the file leaves out", func(t *testing.T) {
		doc := "default_room: ops\nrooms: [{name: ops, platform: webroom}]\n"
		c, err := Parse([]byte(doc), "config.yaml", envOf(map[string]string{
			"SITREP_INGEST_TOKEN": "ingest-from-env-0123", "SITREP_ADMIN_TOKEN": "admin-from-env-0123"}), all()...)
		require.NoError(t, err)
		assert.Equal(t, "ingest-from-env-0123", c.IngestToken)
	})
	t.Run("a bad value from a variable names the variable", func(t *testing.T) {
		errs := parseErrs(t, base+"listen: 127.0.0.1:1\n", envOf(map[string]string{"SITREP_LISTEN": "nowhere"}))
		e := find(errs, "listen")
		require.NotNil(t, e)
		assert.Zero(t, e.Line, "the file's line is not where the value came from")
		assert.Contains(t, e.Msg, "(set by SITREP_LISTEN)")
	})
	t.Run("nil env reads nothing", func(t *testing.T) {
		c, err := Parse([]byte(base), "config.yaml", nil, all()...)
		require.NoError(t, err)
		assert.Equal(t, "ingest-0123456789", c.IngestToken)
	})
}

func TestErrorsNeverShowTokens(t *testing.T) {
	const tok = "xoxb-1111-2222-SECRETSECRET"
	tests := []struct {
		name string
		doc  string
		env  map[string]string
	}{
		{"token where a number goes", base + "web: {history: " + tok + "}\n", nil},
		{"token under an unknown key", base + "slack_token: " + tok + "\n", nil},
		{"token under a misspelt key in a block", base + "hipchat:\n  tokn: " + tok + "\n", nil},
		{"token as the default room", strings.Replace(base, "default_room: ops", "default_room: "+tok, 1), nil},
		{"token as the log level", base + "log: {level: " + tok + "}\n", nil},
		{"token as a duration", base + "outbox: {max_age: " + tok + "}\n", nil},
		{"token as listen", base + "listen: " + tok + "\n", nil},
		{"token on a web room", base + "    token: " + tok + "\n", nil},
		{"notify token as a HipChat room number", base + "    notify_token: " + tok + "\n    hipchat_ids: ['" + tok + "']\n", nil},
		{"token as a mapping key", base + "rate_limits:\n  " + tok + ": {messages: 1, per: 1s}\n" + "hipchat: {token: " + tok + "}\n", nil},
		{"token as a route's room", base + "hipchat: {webhook_token: " + tok + "}\nroutes:\n  - name: r\n    rooms: ['" + tok + "']\n", nil},
		{"same token twice", strings.Replace(strings.Replace(base, "ingest-0123456789", tok, 1), "admin-0123456789", tok, 1), nil},
		{"token from env, bad room", base + "  - name: x\n    platform: nope\n    id: " + tok + "\n", map[string]string{"SITREP_HIPCHAT_TOKEN": tok}},
		{"token duplicated key", base + "ingest_token: " + tok + "\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := parseErrs(t, tt.doc, envOf(tt.env))
			assert.NotContains(t, errs.Error(), tok)
			assert.NotContains(t, errs.Error(), "SECRETSECRET")
		})
	}
}

func TestRedacted(t *testing.T) {
	doc := base + `    display_name: Ops
  - {name: hc, platform: hipchat, id: '7', token: hipchat-room-token-1234, notify_token: sitrep-notify-token-5678, hipchat_ids: ['8']}
web: {key: web-key-0123456789}
hipchat: {base_url: https://hc.example.com, token: hipchat-token-1234, webhook_token: hipchat-hook-1234}
`
	c, err := Parse([]byte(doc), "config.yaml", noEnv, all()...)
	require.NoError(t, err)
	r := c.Redacted()

	secrets := []string{"ingest-0123456789", "admin-0123456789", "web-key-0123456789",
		"hipchat-token-1234", "hipchat-hook-1234", "hipchat-room-token-1234", "sitrep-notify-token-5678"}
	rh := BlockOf[hipchat.Config](&r, hipchat.Platform)
	shown := strings.Join([]string{r.IngestToken, r.AdminToken, web(&r).Key, rh.Token, rh.WebhookToken, r.Rooms[1].Token, r.Rooms[1].NotifyToken}, " ")
	for _, s := range secrets {
		assert.NotContains(t, shown, s)
	}
	assert.Equal(t, "****1234", rh.Token)
	assert.Equal(t, "****1234", r.Rooms[1].Token)
	assert.Equal(t, "****5678", r.Rooms[1].NotifyToken)
	assert.Equal(t, []string{"8"}, r.Rooms[1].HipChatIDs)
	assert.Equal(t, "https://hc.example.com", rh.BaseURL, "a URL is not a secret")
	assert.Equal(t, "Ops", r.Rooms[0].DisplayName)

	// The copy does not share what it redacted with the original.
	assert.Equal(t, "hipchat-room-token-1234", c.Rooms[1].Token)
	assert.Equal(t, "sitrep-notify-token-5678", c.Rooms[1].NotifyToken)
	assert.Equal(t, "hipchat-token-1234", hipchatOf(c).Token)
	assert.Equal(t, "web-key-0123456789", web(c).Key)
	r.RateLimits["hipchat"] = RateLimit{}
	assert.Equal(t, RateLimit{Messages: 30, Per: time.Minute}, c.Limit("hipchat"))
}

func TestValidateBuiltInCode(t *testing.T) {
	c := &Config{
		Listen: "127.0.0.1:8080", Data: "x.db", PublicURL: "http://127.0.0.1:8080",
		Log:         Log{Format: "json", Level: "debug"},
		IngestToken: "ingest-0123456789", AdminToken: "admin-0123456789",
		DefaultRoom: "ops",
		Rooms:       []rooms.Room{{Name: "ops", Platform: "webroom"}},
	}
	require.NoError(t, c.Validate(), "zero outbox and rate limits mean defaults")

	c.DefaultRoom = "nope"
	c.AdminToken = ""
	err := c.Validate()
	var errs *Errors
	require.ErrorAs(t, err, &errs)
	require.Len(t, *errs, 2)
	assert.Equal(t, "admin_token: required: set it here or in SITREP_ADMIN_TOKEN", (*errs)[0].Error())
	assert.Equal(t, `default_room: "nope" is not one of the rooms (ops)`, (*errs)[1].Error())
}

func TestLoad(t *testing.T) {
	t.Run("example file", func(t *testing.T) {
		t.Setenv("SITREP_ADMIN_TOKEN", "admin-from-env-0123")
		c, err := Load("../config.example.yaml", all()...)
		require.NoError(t, err)
		assert.Equal(t, "admin-from-env-0123", c.AdminToken)
	})
	t.Run("missing file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "missing.yaml")
		_, err := Load(path, all()...)
		require.Error(t, err)
		assert.ErrorIs(t, err, fs.ErrNotExist)
		assert.Contains(t, err.Error(), path)
	})
	t.Run("names the file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "sitrep.yaml")
		require.NoError(t, os.WriteFile(path, []byte(base+"bogus: 1\n"), 0o600))
		_, err := Load(path, all()...)
		var errs *Errors
		require.True(t, errors.As(err, &errs))
		assert.Equal(t, path+":7: bogus: unknown key", strings.SplitN(err.Error(), " (", 2)[0])
	})
}

// all is every platform sitrep is built with, as Load is given them.
func all() []Platform { return platforms.All().Config() }

func web(c *Config) *webroom.Config { return BlockOf[webroom.Config](c, webroom.Platform) }

func hipchatOf(c *Config) *hipchat.Config { return BlockOf[hipchat.Config](c, hipchat.Platform) }

func TestWebUsers(t *testing.T) {
	doc := base + `web:
  key: web-key-0123456789
  users:
    alice: {key: alice-key-0123456789}
    bob.smith: {key: bob-file-key-0123456789}
`
	c, err := Parse([]byte(doc), "config.yaml", envOf(map[string]string{"SITREP_WEB_USER_BOB_SMITH_KEY": "bob-env-key-0123456789"}), all()...)
	require.NoError(t, err)
	assert.Equal(t, map[string]webroom.User{"alice": {Key: "alice-key-0123456789"}, "bob.smith": {Key: "bob-env-key-0123456789"}}, web(c).Users,
		"a user's key comes from the file or, winning, from SITREP_WEB_USER_<NAME>_KEY")

	r := c.Redacted()
	assert.Equal(t, map[string]webroom.User{"alice": {Key: "****6789"}, "bob.smith": {Key: "****6789"}}, web(&r).Users, "user keys are redacted")
	assert.Equal(t, "alice-key-0123456789", web(c).Users["alice"].Key, "the copy does not share its users with the original")

	for _, tc := range []struct{ name, users, key, msg string }{
		{"no key", `{alice: {}}`, "web.users.alice.key", "required"},
		{"web.key itself", `{alice: {key: web-key-0123456789}}`, "web.users.alice.key", "must differ from web.key"},
		{"a shared key", `{alice: {key: same-key-0123456789}, bob: {key: same-key-0123456789}}`, "web.users.bob.key", "web.users.alice"},
		{"sitrep's own name", `{sitrep: {key: k-0123456789}}`, "web.users.sitrep", "sitrep's own name"},
		{"a name posing as unverified", `{"x (unverified)": {key: k-0123456789}}`, "web.users.x (unverified)", "does not end in"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs := parseErrs(t, base+"web:\n  key: web-key-0123456789\n  users: "+tc.users+"\n", noEnv)
			e := find(errs, tc.key)
			require.NotNil(t, e, "%v", errs)
			assert.Contains(t, e.Msg, tc.msg)
			assert.NotContains(t, errs.Error(), "0123456789", "no key is shown")
		})
	}
}

func TestRetention(t *testing.T) {
	tests := []struct {
		doc  string
		want time.Duration
		err  string
	}{
		{"", 90 * 24 * time.Hour, ""},
		{"retention: 30d\n", 30 * 24 * time.Hour, ""},
		{"retention: 2160h\n", 2160 * time.Hour, ""},
		{"retention: off\n", 0, ""},
		{"retention: 0\n", 0, ""},
		{"retention: 0d\n", 0, "retention"},
		{"retention: -5h\n", 0, "retention"},
		{"retention: a year\n", 0, `expected a retention such as "90d", "2160h", or "off", got "a year"`},
	}
	for _, tc := range tests {
		t.Run(tc.doc, func(t *testing.T) {
			c, err := Parse([]byte(base+tc.doc), "sitrep.yaml", func(string) string { return "" })
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, c.RetentionPeriod())
		})
	}
}
