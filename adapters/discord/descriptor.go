package discord

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sitrep/sitrep/config"
	"github.com/sitrep/sitrep/platform"
	"github.com/sitrep/sitrep/rooms"
)

// Config is Discord's block, under discord: in the config file.
type Config struct {
	BotToken string `yaml:"bot_token" secret:"true" env:"SITREP_DISCORD_BOT_TOKEN"`
	// PublicKey is the application's public key (hex), which verifies
	// interactions; not a secret.
	PublicKey     string `yaml:"public_key" env:"SITREP_DISCORD_PUBLIC_KEY"`
	ApplicationID string `yaml:"application_id"`
	// GuildID, if set, registers /sitrep in that guild only (at once),
	// rather than globally.
	GuildID string `yaml:"guild_id"`
	// APIURL points REST, and the gateway URL it hands out, elsewhere (tests).
	APIURL string `yaml:"api_url"`
}

// Enabled reports whether Discord is on: a bot token is set.
func (c Config) Enabled() bool { return c.BotToken != "" }

// Descriptor is Discord as a sitrep platform.
func Descriptor() platform.Descriptor {
	return platform.Descriptor{
		Platform: config.Platform{
			Name:  Platform,
			Key:   "discord",
			New:   func() any { return &Config{} },
			Limit: platform.Limit{Messages: 5, Per: 5 * time.Second},
			Check: check,
			Room: func(_ any, r rooms.Room) (string, string) {
				if r.Token != "" {
					return "token", "a Discord room takes no token (discord.bot_token serves every channel)"
				}
				if !isSnowflake(r.ID) {
					return "id", "a Discord room's id is its channel ID (a number: right-click the channel, Copy Channel ID)"
				}
				return "", ""
			},
			On: func(b any) (bool, string) {
				return b.(*Config).Enabled(), "Discord is off: set discord.bot_token (or SITREP_DISCORD_BOT_TOKEN)"
			},
		},
		Build: build,
	}
}

func check(b any, p *config.Problems) {
	c := b.(*Config)
	p.URL("discord.api_url", c.APIURL, false)
	if c.PublicKey != "" {
		if _, err := publicKey(c.PublicKey); err != nil {
			p.Add("discord.public_key", "expected the application's public key, 64 hex digits%s", p.Got("discord.public_key", c.PublicKey))
		}
	}
	for key, v := range map[string]string{"discord.application_id": c.ApplicationID, "discord.guild_id": c.GuildID} {
		if v != "" && !isSnowflake(v) {
			p.Add(key, "expected a Discord ID (a number)%s", p.Got(key, v))
		}
	}
}

func publicKey(s string) (ed25519.PublicKey, error) {
	raw, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, err
	}
	if len(raw) != ed25519.PublicKeySize {
		return nil, hex.ErrLength
	}
	return ed25519.PublicKey(raw), nil
}

func build(env platform.Env) (platform.Built, error) {
	cfg := config.BlockOf[Config](env.Config, Platform)
	if cfg == nil || !cfg.Enabled() {
		return platform.Built{Off: "set discord.bot_token"}, nil
	}
	opts := Options{
		Token: cfg.BotToken, APIURL: cfg.APIURL, ApplicationID: cfg.ApplicationID, GuildID: cfg.GuildID,
		Cards: NewCards(env.DB), DB: env.DB, Handler: env.Inbox.Receive, Known: env.RoomExists, Logger: env.Log,
	}
	if env.Inbox != nil {
		opts.Inbox = env.Inbox
	}
	if base := strings.TrimRight(env.Config.PublicURL, "/"); base != "" {
		opts.IncidentURL = func(id uint64) string {
			if env.IncidentPath != nil {
				return base + env.IncidentPath(id)
			}
			return base + "/v1/incidents/" + strconv.FormatUint(id, 10)
		}
	}
	if cfg.PublicKey != "" {
		key, err := publicKey(cfg.PublicKey)
		if err != nil {
			return platform.Built{}, err
		}
		opts.PublicKey = key
	}
	c, err := New(opts)
	if err != nil {
		return platform.Built{}, err
	}
	if opts.PublicKey != nil {
		c.Register(env.Mux)
	} else {
		env.Log.Warn("discord buttons and /sitrep are off: set discord.public_key (or SITREP_DISCORD_PUBLIC_KEY) and point the application's Interactions Endpoint URL at " +
			strings.TrimRight(env.Config.PublicURL, "/") + InteractionsPath)
	}
	run := func(ctx context.Context) error {
		var wg sync.WaitGroup
		defer wg.Wait()
		wg.Go(func() { pruneLoop(ctx, c) })
		return c.Run(ctx)
	}
	return platform.Built{Chat: c, Run: run}, nil
}

// pruneEvery is how often the signatures of old interactions are forgotten.
const pruneEvery = 10 * time.Minute

func pruneLoop(ctx context.Context, c *Client) {
	t := time.NewTicker(pruneEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := c.PruneSignatures(ctx); err != nil && ctx.Err() == nil {
				c.log.Warn("prune discord interaction signatures", "err", err)
			}
		}
	}
}
