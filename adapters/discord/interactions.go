package discord

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/httpjson"
	"github.com/sitrep/sitrep/inbox"
	"github.com/sitrep/sitrep/render"
	"github.com/sitrep/sitrep/timeline"
)

// Interactions.
const (
	// InteractionsPath is the application's Interactions Endpoint URL path.
	InteractionsPath = "/discord/interactions"
	// MaxInteractionBody is the largest request body taken.
	MaxInteractionBody = 1 << 20
	// MaxSkew is how far a request's X-Signature-Timestamp may be from now.
	MaxSkew = 5 * time.Minute
	// CommandName is the application command sitrep registers: /sitrep <text>.
	CommandName = "sitrep"
	// commandOption is its one option.
	commandOption = "text"
	// answerWithin is how long an interaction waits for sitrep before it is
	// deferred, unless Options.AnswerWithin says otherwise (Discord allows 3
	// seconds for the first answer).
	answerWithin = 2 * time.Second
	// followUpTimeout bounds completing a deferred interaction.
	followUpTimeout = 15 * time.Minute
)

// Register serves the interactions endpoint on mux.
func (c *Client) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST "+InteractionsPath, c.ServeInteractions)
}

// InteractionError is an interaction sitrep cannot take (400).
type InteractionError struct {
	Field string
	Msg   string
}

func (e *InteractionError) Error() string { return e.Field + ": " + e.Msg }

// ParseInteraction decodes an interaction body, checking the fields sitrep
// needs of its type.
func ParseInteraction(body []byte) (*discordgo.Interaction, error) {
	var i discordgo.Interaction
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&i); err != nil {
		return nil, &InteractionError{Field: "body", Msg: "not a valid interaction"}
	}
	if dec.More() {
		return nil, &InteractionError{Field: "body", Msg: "more than one JSON value"}
	}
	if i.Type == discordgo.InteractionPing {
		return &i, nil
	}
	if i.ID == "" {
		return nil, &InteractionError{Field: "id", Msg: "required"}
	}
	if i.Token == "" {
		return nil, &InteractionError{Field: "token", Msg: "required"}
	}
	if i.ChannelID == "" {
		return nil, &InteractionError{Field: "channel_id", Msg: "required"}
	}
	if user(&i) == nil {
		return nil, &InteractionError{Field: "member.user", Msg: "required (or user)"}
	}
	switch i.Type {
	case discordgo.InteractionMessageComponent:
		if _, ok := i.Data.(discordgo.MessageComponentInteractionData); !ok {
			return nil, &InteractionError{Field: "data", Msg: "required"}
		}
		if i.Message == nil || i.Message.ID == "" {
			return nil, &InteractionError{Field: "message.id", Msg: "required"}
		}
	case discordgo.InteractionApplicationCommand:
		if _, ok := i.Data.(discordgo.ApplicationCommandInteractionData); !ok {
			return nil, &InteractionError{Field: "data", Msg: "required"}
		}
	default:
		return nil, &InteractionError{Field: "type", Msg: "unknown interaction type " + strconv.Itoa(int(i.Type))}
	}
	return &i, nil
}

func user(i *discordgo.Interaction) *discordgo.User {
	if i.Member != nil && i.Member.User != nil {
		return i.Member.User
	}
	return i.User
}

// displayName is who the interaction is from, as the guild shows them.
func displayName(i *discordgo.Interaction) string {
	if i.Member != nil && strings.TrimSpace(i.Member.Nick) != "" {
		return strings.TrimSpace(i.Member.Nick)
	}
	u := user(i)
	if u == nil {
		return ""
	}
	if n := strings.TrimSpace(u.DisplayName()); n != "" {
		return n
	}
	return u.ID
}

// Inbound turns a button press or a /sitrep command into what sitrep takes,
// from room (the sitrep channel it came from). A usage error is an
// *InteractionError, answered privately.
func Inbound(i *discordgo.Interaction, room string) (adapters.Inbound, error) {
	in := adapters.Inbound{Platform: Platform, RoomID: room, User: displayName(i), Key: "interaction:" + i.ID}
	if u := user(i); u != nil {
		in.UserID = u.ID
	}
	switch i.Type {
	case discordgo.InteractionMessageComponent:
		data, _ := i.Data.(discordgo.MessageComponentInteractionData)
		verb, id, ok := ParseCustomID(data.CustomID)
		if !ok || data.ComponentType != discordgo.ButtonComponent {
			return in, &InteractionError{Field: "data.custom_id", Msg: "not a sitrep button"}
		}
		in.Action = &adapters.Action{Verb: verb, IncidentID: id}
		if i.Message != nil {
			in.MessageID = i.Message.ID
		}
	case discordgo.InteractionApplicationCommand:
		data, _ := i.Data.(discordgo.ApplicationCommandInteractionData)
		if data.Name != CommandName {
			return in, &InteractionError{Field: "data.name", Msg: fmt.Sprintf("unknown command %q", clip(data.Name, 32))}
		}
		in.Command = CommandName
		for _, o := range data.Options {
			if o != nil && o.Name == commandOption && o.Type == discordgo.ApplicationCommandOptionString {
				s, _ := o.Value.(string)
				in.Text = strings.TrimSpace(s)
			}
		}
	default:
		return in, &InteractionError{Field: "type", Msg: "unknown interaction type"}
	}
	return in, nil
}

// ServeInteractions is the interactions endpoint: every request's Ed25519
// signature is checked (401 if bad or missing), with a timestamp within
// MaxSkew of now and a signature not seen before.
func (c *Client) ServeInteractions(w http.ResponseWriter, r *http.Request) {
	received := time.Now()
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxInteractionBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			httpjson.Error(w, http.StatusRequestEntityTooLarge, "", "body larger than "+strconv.Itoa(MaxInteractionBody)+" bytes")
			return
		}
		httpjson.Error(w, http.StatusBadRequest, "", "could not read body")
		return
	}
	field, msg, err := c.verify(r, body)
	if err != nil {
		c.log.Error("discord interaction: could not check it against replays", "err", err)
		httpjson.Error(w, http.StatusInternalServerError, "", "could not take the interaction just now")
		return
	}
	if field != "" {
		c.log.Warn("discord interaction refused", "field", field, "reason", msg, "remote", r.RemoteAddr)
		httpjson.Error(w, http.StatusUnauthorized, field, msg)
		return
	}
	i, err := ParseInteraction(body)
	var ie *InteractionError
	if errors.As(err, &ie) {
		httpjson.Error(w, http.StatusBadRequest, ie.Field, ie.Error())
		return
	}
	if i.Type == discordgo.InteractionPing {
		writeResponse(w, &discordgo.InteractionResponse{Type: discordgo.InteractionResponsePong})
		return
	}
	room, ok := c.roomOf(i.ChannelID)
	if !ok {
		writeResponse(w, private("This channel is not a sitrep room: nothing was changed."))
		return
	}
	in, err := Inbound(i, room)
	if err == nil {
		err = c.onItsCard(in)
	}
	if errors.As(err, &ie) {
		writeResponse(w, private("sitrep cannot take that: "+ie.Msg+". Nothing was changed."))
		return
	}
	in.Time = c.opts.Now().UTC()
	c.answer(w, r, received, i, in)
}

// onItsCard checks that a press names the incident of the card it sits on,
// when sitrep knows that card: a button's custom_id is the client's to send,
// and a press on #42's card must not act on another incident.
func (c *Client) onItsCard(in adapters.Inbound) error {
	if in.Action == nil || in.MessageID == "" || c.opts.Cards == nil {
		return nil
	}
	if card, ok := c.opts.Cards.Get(in.MessageID); ok && card.Incident != in.Action.IncidentID {
		c.log.Warn("discord press names another incident than its card's", "message", in.MessageID,
			"card", card.Incident, "custom_id", in.Action.IncidentID)
		return &InteractionError{Field: "data.custom_id", Msg: "that button is not this card's"}
	}
	return nil
}

// verify checks r's signature, timestamp and freshness; it returns the
// field at fault and why, or "" (and an error if freshness could not be
// checked).
func (c *Client) verify(r *http.Request, body []byte) (field, msg string, err error) {
	if c.opts.PublicKey == nil {
		return "X-Signature-Ed25519", "no public key configured", nil
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	if !discordgo.VerifyInteraction(r, c.opts.PublicKey) {
		return "X-Signature-Ed25519", "missing or bad signature", nil
	}
	ts, err := strconv.ParseInt(r.Header.Get("X-Signature-Timestamp"), 10, 64)
	if err != nil {
		return "X-Signature-Timestamp", "not a Unix time", nil
	}
	at, now := time.Unix(ts, 0), c.opts.Now()
	if at.Before(now.Add(-MaxSkew)) || at.After(now.Add(MaxSkew)) {
		return "X-Signature-Timestamp", "more than 5 minutes from now", nil
	}
	// The bytes signed, not their spelling: hex in upper case is the same signature.
	sig, err := hex.DecodeString(r.Header.Get("X-Signature-Ed25519"))
	if err != nil || len(sig) != ed25519.SignatureSize {
		return "X-Signature-Ed25519", "missing or bad signature", nil
	}
	fresh, err := c.replay.first(r.Context(), sig, at.Add(MaxSkew), now)
	if err != nil {
		return "", "", err
	}
	if !fresh {
		return "X-Signature-Ed25519", "request seen before", nil
	}
	return "", "", nil
}

// PruneSignatures forgets the signatures of interactions too old to pass
// again anyway, and returns how many.
func (c *Client) PruneSignatures(ctx context.Context) (int, error) {
	return c.replay.prune(ctx, c.opts.Now())
}

// roomOf maps a channel to the sitrep channel it speaks for: itself, or the
// channel of the card whose thread it is.
func (c *Client) roomOf(channelID string) (string, bool) {
	if c.known(channelID) {
		return channelID, true
	}
	if c.opts.Cards != nil {
		if card, ok := c.opts.Cards.Get(channelID); ok && c.known(card.Channel) {
			return card.Channel, true
		}
	}
	return "", false
}

func (c *Client) known(channelID string) bool {
	return c.opts.Known == nil || c.opts.Known(channelID)
}

type result struct {
	reply adapters.Reply
	err   error
}

func (c *Client) handle(ctx context.Context, t inbox.Ticket, in adapters.Inbound) result {
	reply, err := c.opts.Inbox.Handle(ctx, t, in)
	return result{reply, err}
}

// answer stores in, then hands it to sitrep and answers Discord within its
// 3 seconds of received: directly when sitrep is quick, else deferred and
// completed by a follow-up. Nothing is answered, deferral included, before
// in is stored: a press Discord shows as taken survives a crash.
func (c *Client) answer(w http.ResponseWriter, r *http.Request, received time.Time, i *discordgo.Interaction, in adapters.Inbound) {
	if c.opts.Inbox == nil {
		writeResponse(w, c.response(i, in, result{}))
		return
	}
	ticket, err := c.opts.Inbox.Store(r.Context(), in)
	switch {
	case errors.Is(err, inbox.ErrDuplicate):
		c.log.Info("discord interaction already received; dropped", "interaction", i.ID)
		if in.Action != nil {
			writeResponse(w, &discordgo.InteractionResponse{Type: discordgo.InteractionResponseDeferredMessageUpdate})
		} else {
			writeResponse(w, private("sitrep already received that; nothing more was done."))
		}
		return
	case err != nil:
		c.log.Error("discord interaction: could not store it", "interaction", i.ID, "err", err)
		httpjson.Error(w, http.StatusInternalServerError, "", "sitrep could not take the interaction just now")
		return
	}
	done := make(chan result, 1)
	// Not cut short if Discord hangs up: the inbox has stored the Inbound.
	ctx := context.WithoutCancel(r.Context())
	go func() { done <- c.handle(ctx, ticket, in) }()
	// Only the handling races Discord's clock, from when the request came in.
	t := time.NewTimer(max(time.Until(received.Add(c.opts.AnswerWithin)), 0))
	defer t.Stop()
	select {
	case res := <-done:
		writeResponse(w, c.response(i, in, res))
	case <-t.C:
		if in.Action != nil {
			writeResponse(w, &discordgo.InteractionResponse{Type: discordgo.InteractionResponseDeferredMessageUpdate})
		} else {
			writeResponse(w, &discordgo.InteractionResponse{Type: discordgo.InteractionResponseDeferredChannelMessageWithSource,
				Data: &discordgo.InteractionResponseData{Flags: discordgo.MessageFlagsEphemeral}})
		}
		go func() {
			res := <-done
			fctx, cancel := context.WithTimeout(ctx, followUpTimeout)
			defer cancel()
			if err := c.followUp(fctx, i, c.response(i, in, res)); err != nil {
				c.log.Warn("discord interaction follow-up failed", "interaction", i.ID, "err", scrub(err))
			}
		}()
	}
}

// response is the answer to an interaction once sitrep has handled it: a
// press that changed the incident updates its card in place (type 7); any
// other answer is a message only its sender sees.
func (c *Client) response(i *discordgo.Interaction, in adapters.Inbound, res result) *discordgo.InteractionResponse {
	if res.err != nil {
		c.log.Error("discord interaction failed", "interaction", i.ID, "err", res.err)
		return private("sitrep could not do that just now; try again.")
	}
	if in.Action != nil {
		if state, ok := changed(in.Action, res.reply.Text); ok && i.Message != nil {
			return &discordgo.InteractionResponse{Type: discordgo.InteractionResponseUpdateMessage, Data: rerender(i.Message, in.Action.IncidentID, state)}
		}
		if res.reply.Empty() {
			return &discordgo.InteractionResponse{Type: discordgo.InteractionResponseDeferredMessageUpdate}
		}
	}
	text := res.reply.Text
	if strings.TrimSpace(text) == "" {
		text = "Done."
	}
	if in.Action == nil && !res.reply.Private {
		return &discordgo.InteractionResponse{Type: discordgo.InteractionResponseChannelMessageWithSource,
			Data: &discordgo.InteractionResponseData{Content: clip(text, MaxContent), AllowedMentions: noMentions()}}
	}
	return private(text)
}

// changed reports whether sitrep's answer to a press says it took effect,
// and the incident's state then.
func changed(a *adapters.Action, reply string) (timeline.State, bool) {
	id := "#" + strconv.FormatUint(a.IncidentID, 10)
	switch {
	case a.Verb == adapters.VerbAck && (reply == "acknowledged "+id || strings.HasPrefix(reply, "acknowledged "+id+":")):
		return timeline.StateAcknowledged, true
	case a.Verb == adapters.VerbResolve && (reply == "resolved "+id || strings.HasPrefix(reply, "resolved "+id+":")):
		return timeline.StateResolved, true
	}
	return "", false
}

// rerender is the card message m in state s: its embed recoloured, its
// buttons those of the state.
func rerender(m *discordgo.Message, id uint64, s timeline.State) *discordgo.InteractionResponseData {
	embeds := make([]*discordgo.MessageEmbed, 0, len(m.Embeds))
	for _, e := range m.Embeds {
		if e == nil {
			continue
		}
		cp := *e
		cp.Color = StateColor(s)
		cp.Footer = &discordgo.MessageEmbedFooter{Text: "sitrep · " + string(s)}
		embeds = append(embeds, &cp)
	}
	return &discordgo.InteractionResponseData{
		Content: m.Content, Embeds: embeds,
		Components: Components(id, render.Actions(s)), AllowedMentions: noMentions(),
	}
}

func private(text string) *discordgo.InteractionResponse {
	return &discordgo.InteractionResponse{Type: discordgo.InteractionResponseChannelMessageWithSource,
		Data: &discordgo.InteractionResponseData{Content: clip(text, MaxContent), Flags: discordgo.MessageFlagsEphemeral, AllowedMentions: noMentions()}}
}

func writeResponse(w http.ResponseWriter, resp *discordgo.InteractionResponse) {
	httpjson.Write(w, http.StatusOK, resp)
}

// followUp completes a deferred interaction with resp, through the
// interaction's webhook.
func (c *Client) followUp(ctx context.Context, i *discordgo.Interaction, resp *discordgo.InteractionResponse) error {
	d := resp.Data
	switch {
	case d == nil:
		return nil
	case resp.Type == discordgo.InteractionResponseUpdateMessage:
		_, err := c.s.InteractionResponseEdit(i, &discordgo.WebhookEdit{Embeds: &d.Embeds, Components: &d.Components, AllowedMentions: d.AllowedMentions}, discordgo.WithContext(ctx))
		return err
	case i.Type == discordgo.InteractionMessageComponent:
		_, err := c.s.FollowupMessageCreate(i, true, &discordgo.WebhookParams{Content: d.Content, Flags: d.Flags, AllowedMentions: d.AllowedMentions}, discordgo.WithContext(ctx))
		return err
	}
	_, err := c.s.InteractionResponseEdit(i, &discordgo.WebhookEdit{Content: &d.Content, AllowedMentions: d.AllowedMentions}, discordgo.WithContext(ctx))
	return err
}

// RegisterCommands registers /sitrep <text> (a bulk overwrite: per guild
// when GuildID is set, else global).
func (c *Client) RegisterCommands(ctx context.Context) error {
	if c.opts.ApplicationID == "" {
		return nil
	}
	cmds := []*discordgo.ApplicationCommand{{
		Name:        CommandName,
		Description: "sitrep: ack, resolve, note, list or show incidents (try: help)",
		Options: []*discordgo.ApplicationCommandOption{{
			Type: discordgo.ApplicationCommandOptionString, Name: commandOption,
			Description: "what to do, e.g. ack 42, resolve 42, list, help", Required: true,
		}},
	}}
	if _, err := c.s.ApplicationCommandBulkOverwrite(c.opts.ApplicationID, c.opts.GuildID, cmds, discordgo.WithContext(ctx)); err != nil {
		return classify(ctx, "register commands", err)
	}
	return nil
}
