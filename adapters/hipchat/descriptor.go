package hipchat

import (
	"time"

	"github.com/sitrep/sitrep/config"
	"github.com/sitrep/sitrep/platform"
	"github.com/sitrep/sitrep/rooms"
)

// WebhookPath is where HipChat's room_message webhook posts.
const WebhookPath = "/hooks/hipchat"

// Descriptor is HipChat as a sitrep platform.
func Descriptor() platform.Descriptor {
	return platform.Descriptor{
		Name:  Platform,
		Limit: platform.Limit{Messages: 30, Per: time.Minute},
		Room: func(cfg *config.Config, r rooms.Room) *rooms.FieldError {
			if r.Token == "" && cfg.HipChat.Token == "" {
				return &rooms.FieldError{Field: "token", Msg: "required for a HipChat room, unless hipchat.token is set"}
			}
			return nil
		},
		Build: func(env platform.Env) (platform.Built, error) {
			cfg := env.Config.HipChat
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
