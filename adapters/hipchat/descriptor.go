package hipchat

import (
	"context"
	"log/slog"
	"strings"
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
	// WebhookToken, if set, lets POST /hooks/hipchat take unsigned webhooks
	// (from a HipChat server that does not sign them) that send it as ?token=
	// or "Authorization: Bearer". Signed webhooks, from add-on installs, need
	// no token.
	WebhookToken string `yaml:"webhook_token" secret:"true" env:"SITREP_HIPCHAT_WEBHOOK_TOKEN"`
	// InstallRoom is the sitrep room an add-on install is for when its
	// descriptor URL (/hipchat/capabilities.json) has no ?room=; default the
	// default room.
	InstallRoom string `yaml:"install_room"`
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
			Room:  checkRoom,
			On: func(b any) (bool, string) {
				return b.(*Config).Enabled(), "HipChat is off: set hipchat.base_url"
			},
		},
		Build: build,
	}
}

func checkRoom(b any, r rooms.Room) (string, string) {
	if !isDigits(r.ID) {
		// HipChat's webhooks name a room by its number: a room set up by name
		// would not know its own responders' chat, and echo it back.
		return "id", "a HipChat room's id is its number (as in the room's URL and webhooks), not \"" + r.ID + "\""
	}
	if r.Token == "" && b.(*Config).Token == "" {
		return "token", "required for a HipChat room, unless hipchat.token (or SITREP_HIPCHAT_TOKEN) is set"
	}
	return "", ""
}

// build makes the adapter. POST WebhookPath is always served: signed
// webhooks from add-on installs are taken whenever HipChat is on (an install
// is always possible), and unsigned ones only with the webhook token.
func build(env platform.Env) (platform.Built, error) {
	cfg := config.BlockOf[Config](env.Config, Platform)
	if !cfg.Enabled() {
		return platform.Built{Off: "set hipchat.base_url"}, nil
	}
	installs, err := OpenInstalls(env.DB)
	if err != nil {
		return platform.Built{}, err
	}
	roomOf := func(id string) (string, bool) {
		name, ok := installs.RoomOf(id)
		return name, ok && env.RoomNamed != nil && env.RoomNamed(name)
	}
	c := New(Options{
		BaseURL:      cfg.BaseURL,
		Token:        cfg.Token,
		WebhookToken: cfg.WebhookToken,
		Handler:      env.Inbox.Receive,
		Logger:       env.Log,
		Installs:     installs,
		Known: func(id string) bool {
			if _, ok := roomOf(id); ok {
				return true
			}
			return env.RoomExists != nil && env.RoomExists(id)
		},
	})
	c.Register(env.Mux, WebhookPath)
	room := cfg.InstallRoom
	if room == "" {
		room = env.Config.DefaultRoom
	}
	c.RegisterAddon(env.Mux, Addon{PublicURL: env.Config.PublicURL, Room: room, RoomExists: env.RoomNamed})
	if cfg.WebhookToken == "" {
		env.Log.Info("hipchat inbound takes signed webhooks only", "install", "install the add-on from "+strings.TrimRight(env.Config.PublicURL, "/")+CapabilitiesPath,
			"unsigned", "set hipchat.webhook_token for a server that does not sign webhooks")
	}
	return platform.Built{Chat: c, RoomOf: roomOf, Run: func(ctx context.Context) error { return pruneLoop(ctx, installs, c.now, env.Log) }}, nil
}

// pruneEvery is how often expired signed-request IDs are forgotten.
const pruneEvery = 10 * time.Minute

func pruneLoop(ctx context.Context, installs *Installs, now func() time.Time, log *slog.Logger) error {
	t := time.NewTicker(pruneEvery)
	defer t.Stop()
	for {
		if _, err := installs.Prune(ctx, now()); err != nil && ctx.Err() == nil {
			log.Warn("prune hipchat signed request ids", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
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
