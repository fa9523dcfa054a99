package discord

import (
	"context"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/sitrep/sitrep/adapters"
)

// gatewayHandleTimeout bounds handling one message from the gateway.
const gatewayHandleTimeout = 30 * time.Second

// Run registers the /sitrep command (when an application ID is set) and
// keeps the gateway session until ctx ends; discordgo reconnects and resumes
// it on its own once open. Outbound needs none of it.
func (c *Client) Run(ctx context.Context) error {
	if err := c.RegisterCommands(ctx); err != nil && ctx.Err() == nil {
		c.log.Warn("discord: could not register the /sitrep command", "err", err)
	}
	backoff := time.Second
	for {
		err := c.s.Open()
		if err == nil || errors.Is(err, discordgo.ErrWSAlreadyOpen) {
			break
		}
		c.log.Warn("discord gateway: could not connect; retrying", "in", backoff, "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Minute)
	}
	<-ctx.Done()
	if err := c.s.Close(); err != nil {
		c.log.Debug("discord gateway close", "err", err)
	}
	return nil
}

var incidentRef = regexp.MustCompile(`^#\d+\b`)

// ChatInbound turns a message from the gateway into what sitrep takes, and
// reports whether sitrep takes it at all: never from a bot (sitrep itself
// included) or a webhook, nor outside a sitrep channel or an alert's thread.
// In a thread the text is put on the thread's incident ("#42 text").
func (c *Client) ChatInbound(m *discordgo.Message) (adapters.Inbound, bool) {
	if m == nil || m.Author == nil || m.ID == "" || m.ChannelID == "" {
		return adapters.Inbound{}, false
	}
	if m.Author.Bot || m.Author.System || m.WebhookID != "" || m.Author.ID == c.selfID.Load().(string) {
		return adapters.Inbound{}, false
	}
	text := strings.TrimSpace(m.Content)
	if text == "" {
		return adapters.Inbound{}, false
	}
	room := m.ChannelID
	if !c.known(room) {
		if c.opts.Cards == nil {
			return adapters.Inbound{}, false
		}
		card, ok := c.opts.Cards.Get(m.ChannelID)
		if !ok || !c.known(card.Channel) {
			return adapters.Inbound{}, false
		}
		room = card.Channel
		if !strings.HasPrefix(text, "/") && !incidentRef.MatchString(text) {
			text = "#" + strconv.FormatUint(card.Incident, 10) + " " + text
		}
	}
	name := strings.TrimSpace(m.Author.DisplayName())
	if m.Member != nil && strings.TrimSpace(m.Member.Nick) != "" {
		name = strings.TrimSpace(m.Member.Nick)
	}
	if name == "" {
		name = m.Author.ID
	}
	at := m.Timestamp.UTC()
	if at.IsZero() {
		at = c.opts.Now().UTC()
	}
	return adapters.Inbound{Platform: Platform, RoomID: room, User: name, UserID: m.Author.ID, Text: text, MessageID: m.ID, Key: "message:" + m.ID, Time: at}, true
}

func (c *Client) onMessage(ev *discordgo.MessageCreate) {
	defer func() {
		if p := recover(); p != nil {
			c.log.Error("discord gateway message handler panicked", "panic", p)
		}
	}()
	if ev == nil || c.opts.Handler == nil {
		return
	}
	in, ok := c.ChatInbound(ev.Message)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), gatewayHandleTimeout)
	defer cancel()
	reply, err := c.opts.Handler(ctx, in)
	if err != nil {
		c.log.Error("discord message failed", "channel", ev.ChannelID, "message", ev.ID, "err", err)
		return
	}
	if reply.Empty() {
		return
	}
	if err := c.replyTo(ctx, ev.Message, reply); err != nil {
		c.log.Warn("discord: could not answer a message", "channel", ev.ChannelID, "message", ev.ID, "err", err)
	}
}

// replyTo answers a typed message: a private reply by direct message to its
// author (Discord has no ephemeral answer to a typed message), any other as
// a reply in the channel.
func (c *Client) replyTo(ctx context.Context, m *discordgo.Message, r adapters.Reply) error {
	send := &discordgo.MessageSend{Content: clip(r.Text, MaxContent), AllowedMentions: noMentions()}
	channel := m.ChannelID
	if r.Private {
		dm, err := c.s.UserChannelCreate(m.Author.ID, discordgo.WithContext(ctx))
		if err != nil {
			return classify(ctx, "open direct message", err)
		}
		channel = dm.ID
	} else {
		send.Reference = m.Reference()
	}
	if _, err := c.s.ChannelMessageSendComplex(channel, send, discordgo.WithContext(ctx)); err != nil {
		return classify(ctx, "answer", err)
	}
	return nil
}
