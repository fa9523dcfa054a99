package hipchat

import (
	"time"

	"github.com/sitrep/sitrep/config"
	"github.com/sitrep/sitrep/platform"
	"github.com/sitrep/sitrep/rooms"
)

// WebhookPath is where HipChat's room_message webhook posts.
const WebhookPath = "/hooks/hipchat"

// Config is a HipChat (or compatible) server, under hipchat: in the config
// file. Rooms carry their own tokens; Token, if set, serves rooms that have none.
type Config struct {
	BaseURL string `yaml:"base_url"`                                       // e.g. https://hipchat.example.com
	Token   string `yaml:"token" secret:"true" env:"SITREP_HIPCHAT_TOKEN"` //
	// WebhookToken, if set, turns on POST /hooks/hipchat: HipChat's
	// room_message webhook must send it as ?token=.
	WebhookToken string `yaml:"webhook_token" secret:"true" env:"SITREP_HIPCHAT_WEBHOOK_TOKEN"`
}

// Enabled reports whether a HipChat server is configured.
func (c Config) Enabled() bool { return c.BaseURL != "" }

// Descriptor is HipChat as a sitrep platform.
func Descriptor() platform.Descriptor {
	return platform.Descriptor{
		Platform: config.Platform{
			Name:  Platform,
			Key:   "hipchat",
			New:   func() any { return &Config{} },
			Limit: platform.Limit{Messages: 30, Per: time.Minute},
			Check: func(b any, p *config.Problems) { p.URL("hipchat.base_url", b.(*Config).BaseURL, false) },
			On: func(b any) (bool, string) {
				return b.(*Config).Enabled(), "HipChat is off: set hipchat.base_url"
			},
			Room: func(b any, r rooms.Room) (string, string) {
				if !isDigits(r.ID) {
					// HipChat's webhooks name a room by its number: a room set up by name
					// would not know its own responders' chat, and echo it back.
					return "id", "a HipChat room's id is its number (as in the room's URL and webhooks), not \"" + r.ID + "\""
				}
				if r.Token == "" && b.(*Config).Token == "" {
					return "token", "required for a HipChat room, unless hipchat.token (or SITREP_HIPCHAT_TOKEN) is set"
				}
				return "", ""
			},
		},
		Build: func(env platform.Env) (platform.Built, error) {
			cfg := config.BlockOf[Config](env.Config, Platform)
			if !cfg.Enabled() {
				return platform.Built{Off: "set hipchat.base_url"}, nil
			}
			c := New(Options{
				BaseURL:      cfg.BaseURL,
				Token:        cfg.Token,
				WebhookToken: cfg.WebhookToken,
				Handler:      env.Inbox.Receive,
				Logger:       env.Log,
			})
			if cfg.WebhookToken != "" {
				c.Register(env.Mux, WebhookPath)
			} else {
				env.Log.Info("hipchat inbound off: responders' chat is not read", "enable", "set hipchat.webhook_token and point a room_message webhook at "+WebhookPath)
			}
			return platform.Built{Chat: c}, nil
		},
	}
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
