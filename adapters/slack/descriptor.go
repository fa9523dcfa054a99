package slack

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/sitrep/sitrep/config"
	"github.com/sitrep/sitrep/platform"
	"github.com/sitrep/sitrep/rooms"
)

// Config is Slack's block of settings, under slack: in the config file.
type Config struct {
	BotToken      string `yaml:"bot_token" secret:"true" env:"SITREP_SLACK_BOT_TOKEN"`           // xoxb-…: turns Slack on
	SigningSecret string `yaml:"signing_secret" secret:"true" env:"SITREP_SLACK_SIGNING_SECRET"` // verifies requests to /slack/…
	AppToken      string `yaml:"app_token" secret:"true" env:"SITREP_SLACK_APP_TOKEN"`           // xapp-…: Socket Mode
	APIURL        string `yaml:"api_url"`                                                        // Web API base, default https://slack.com/api
	Command       string `yaml:"command"`                                                        // slash command, default /sitrep
}

// Enabled reports whether Slack is configured.
func (c Config) Enabled() bool { return c.BotToken != "" }

// Descriptor is Slack as a sitrep platform.
func Descriptor() platform.Descriptor {
	return platform.Descriptor{
		Platform: config.Platform{
			Name:  Platform,
			Key:   "slack",
			New:   func() any { return &Config{Command: DefaultCommand} },
			Limit: platform.Limit{Messages: 1, Per: time.Second}, // chat.postMessage: about one a second per channel
			Check: check,
			Room:  checkRoom,
			On: func(b any) (bool, string) {
				return b.(*Config).Enabled(), "Slack is off: set slack.bot_token (or SITREP_SLACK_BOT_TOKEN)"
			},
		},
		Build: build,
	}
}

func check(b any, p *config.Problems) {
	c := b.(*Config)
	p.URL("slack.api_url", c.APIURL, false)
	if c.Command != "" && (!strings.HasPrefix(c.Command, "/") || len(c.Command) < 2 || strings.ContainsAny(c.Command, " \t")) {
		p.Add("slack.command", "a slash command such as /sitrep%s", p.Got("slack.command", c.Command))
	}
}

// ValidChannelID reports whether id looks like a Slack conversation ID:
// C (channel), G (private channel) or D (direct message), then upper-case
// letters and digits.
func ValidChannelID(id string) bool {
	if len(id) < 3 || len(id) > 32 || !strings.ContainsRune("CGD", rune(id[0])) {
		return false
	}
	for i := 1; i < len(id); i++ {
		if !(id[i] >= 'A' && id[i] <= 'Z' || id[i] >= '0' && id[i] <= '9') {
			return false
		}
	}
	return true
}

func checkRoom(_ any, r rooms.Room) (string, string) {
	if r.Token != "" {
		return "token", "platform slack takes no per-room token (slack.bot_token serves every room)"
	}
	if !ValidChannelID(r.ID) {
		return "id", "a Slack room's id is its channel ID (C…, G… or D…, as in the channel's details), not \"" + r.ID + "\""
	}
	return "", ""
}

// pruneEvery is how often used request signatures are forgotten.
const pruneEvery = 10 * time.Minute

func build(env platform.Env) (platform.Built, error) {
	cfg := config.BlockOf[Config](env.Config, Platform)
	if cfg == nil || !cfg.Enabled() {
		return platform.Built{Off: "set slack.bot_token"}, nil
	}
	c := New(Options{
		Token: cfg.BotToken, SigningSecret: cfg.SigningSecret, AppToken: cfg.AppToken, APIURL: cfg.APIURL,
		PublicURL: env.Config.PublicURL, IncidentPath: env.IncidentPath, Command: cfg.Command, DB: env.DB, Inbox: env.Inbox,
		Known: env.RoomExists, Logger: env.Log.With("platform", Platform),
	})
	c.Register(env.Mux)
	if cfg.SigningSecret == "" && cfg.AppToken == "" {
		env.Log.Warn("slack takes nothing from responders: set slack.signing_secret (Request URLs) or slack.app_token (Socket Mode)")
	}
	run := func(ctx context.Context) error {
		var wg sync.WaitGroup
		wg.Go(func() { _ = pruneLoop(ctx, c, env.Log) })
		err := c.RunSocket(ctx)
		wg.Wait()
		return err
	}
	return platform.Built{Chat: c, Run: run, Close: c.Close}, nil
}

func pruneLoop(ctx context.Context, c *Client, log *slog.Logger) error {
	t := time.NewTicker(pruneEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if _, err := c.PruneSignatures(ctx); err != nil && ctx.Err() == nil {
				log.Warn("prune slack request signatures", "err", err)
			}
		}
	}
}
