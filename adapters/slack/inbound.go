package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	bolt "go.etcd.io/bbolt"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/httpjson"
	"github.com/sitrep/sitrep/inbox"
	"github.com/sitrep/sitrep/storage"
)

// Paths of Slack's Request URLs on sitrep's server.
const (
	CommandsPath     = "/slack/commands"
	InteractionsPath = "/slack/interactions"
	EventsPath       = "/slack/events"
)

// Inbound limits.
const (
	MaxBody = 1 << 20         // bytes of a request body
	MaxSkew = 5 * time.Minute // how far a request's timestamp may be from now
)

// Refusal is a request sitrep does not take: the HTTP status, the field at
// fault and why.
type Refusal struct {
	Status int
	Field  string
	Msg    string
}

func (r *Refusal) Error() string { return r.Field + ": " + r.Msg }

func refuse(status int, field, format string, args ...any) *Refusal {
	return &Refusal{Status: status, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// errReplay is a signed request seen before.
var errReplay = errors.New("replayed")

// Register serves the three Request URLs on mux.
func (c *Client) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST "+CommandsPath, c.serve(c.httpCommand))
	mux.HandleFunc("POST "+InteractionsPath, c.serve(c.httpInteraction))
	mux.HandleFunc("POST "+EventsPath, c.serve(c.httpEvent))
}

// request is a verified request: its body and how to mark its signature
// used, which the handler does once the request is found good, just before
// anything is stored.
type request struct {
	r    *http.Request
	body []byte
	mark func(ctx context.Context) error
}

// serve verifies a request (signature over the raw body, timestamp within
// MaxSkew, size) and hands it to h; h's answer is written as JSON, a
// Refusal as its status with the reason.
func (c *Client) serve(h func(ctx context.Context, req request) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		req, err := c.verify(w, r)
		if err == nil {
			var out any
			out, err = h(r.Context(), req)
			if err == nil {
				if out == nil {
					w.WriteHeader(http.StatusOK)
					return
				}
				httpjson.Write(w, http.StatusOK, out)
				return
			}
		}
		var ref *Refusal
		if errors.As(err, &ref) {
			c.log.Warn("slack request refused", "path", r.URL.Path, "field", ref.Field, "reason", ref.Msg, "remote", r.RemoteAddr)
			httpjson.Error(w, ref.Status, ref.Field, ref.Msg)
			return
		}
		c.log.Error("slack request failed", "path", r.URL.Path, "err", err)
		httpjson.Error(w, http.StatusInternalServerError, "", "internal error")
	}
}

func (c *Client) verify(w http.ResponseWriter, r *http.Request) (request, error) {
	if c.opts.SigningSecret == "" {
		return request{}, refuse(http.StatusUnauthorized, "x-slack-signature", "requests cannot be verified: slack.signing_secret is not set")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return request{}, refuse(http.StatusRequestEntityTooLarge, "body", "larger than %d bytes", MaxBody)
		}
		return request{}, refuse(http.StatusBadRequest, "body", "could not be read")
	}
	ts, err := strconv.ParseInt(r.Header.Get("X-Slack-Request-Timestamp"), 10, 64)
	if err != nil {
		return request{}, refuse(http.StatusUnauthorized, "x-slack-request-timestamp", "missing or not a Unix time")
	}
	if d := c.opts.Now().Sub(time.Unix(ts, 0)).Abs(); d > MaxSkew {
		return request{}, refuse(http.StatusUnauthorized, "x-slack-request-timestamp", "%s from now, more than %s: stale or replayed", d.Round(time.Second), MaxSkew)
	}
	sv, err := slack.NewSecretsVerifier(r.Header, c.opts.SigningSecret)
	if err != nil {
		return request{}, refuse(http.StatusUnauthorized, "x-slack-signature", "missing or malformed (%v)", err)
	}
	_, _ = sv.Write(body)
	if err := sv.Ensure(); err != nil {
		return request{}, refuse(http.StatusUnauthorized, "x-slack-signature", "does not match the body and the signing secret")
	}
	// Keyed on the lower-cased hex: Slack's verifier decodes either case, so
	// an upper-cased copy of a used signature is the same signature.
	sig := strings.ToLower(r.Header.Get("X-Slack-Signature"))
	if c.seen(sig) {
		return request{}, refuse(http.StatusUnauthorized, "x-slack-signature", "this request was seen before (replayed)")
	}
	return request{r: r, body: body, mark: func(ctx context.Context) error {
		err := c.markSeen(ctx, sig, ts)
		if errors.Is(err, errReplay) {
			return refuse(http.StatusUnauthorized, "x-slack-signature", "this request was seen before (replayed)")
		}
		return err
	}}, nil
}

func (c *Client) seen(sig string) bool {
	if c.opts.DB == nil {
		return false
	}
	var ok bool
	_ = c.opts.DB.View(func(tx *bolt.Tx) error {
		ok = tx.Bucket(storage.BucketSlackSigs).Get([]byte(sig)) != nil
		return nil
	})
	return ok
}

// markSeen remembers a signature (until PruneSignatures forgets it, past
// MaxSkew); errReplay if it was already.
func (c *Client) markSeen(ctx context.Context, sig string, ts int64) error {
	if c.opts.DB == nil {
		return nil
	}
	return c.opts.DB.Update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(storage.BucketSlackSigs)
		if b.Get([]byte(sig)) != nil {
			return errReplay
		}
		return b.Put([]byte(sig), storage.U64(uint64(ts)))
	})
}

// PruneSignatures forgets signatures whose timestamps are too old to be
// taken anyway.
func (c *Client) PruneSignatures(ctx context.Context) (int, error) {
	if c.opts.DB == nil {
		return 0, nil
	}
	cutoff := c.opts.Now().Add(-2 * MaxSkew).Unix()
	n := 0
	err := c.opts.DB.Update(ctx, func(tx *bolt.Tx) error {
		var err error
		n, err = storage.DeleteBefore(tx.Bucket(storage.BucketSlackSigs), uint64(max(cutoff, 0)))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("slack: prune signatures: %w", err)
	}
	return n, nil
}

// ParseCommand reads a slash command's form body.
func ParseCommand(body []byte) (slack.SlashCommand, error) {
	r, err := http.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	if err != nil {
		return slack.SlashCommand{}, err
	}
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	cmd, err := slack.SlashCommandParse(r)
	if err != nil {
		return slack.SlashCommand{}, refuse(http.StatusBadRequest, "body", "not a form")
	}
	return cmd, nil
}

// ParseInteraction reads an interaction's form body (its payload field).
func ParseInteraction(body []byte) (slack.InteractionCallback, error) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return slack.InteractionCallback{}, refuse(http.StatusBadRequest, "body", "not a form")
	}
	raw := form.Get("payload")
	if raw == "" {
		return slack.InteractionCallback{}, refuse(http.StatusBadRequest, "payload", "required")
	}
	var cb slack.InteractionCallback
	if err := json.Unmarshal([]byte(raw), &cb); err != nil {
		return slack.InteractionCallback{}, refuse(http.StatusBadRequest, "payload", "not a Slack interaction payload")
	}
	return cb, nil
}

// ParseEvent reads an Events API body (its signature, not the legacy
// verification token, vouches for it).
func ParseEvent(body []byte) (slackevents.EventsAPIEvent, string, error) {
	ev, err := slackevents.ParseEvent(json.RawMessage(body), slackevents.OptionNoVerifyToken())
	if err != nil {
		return slackevents.EventsAPIEvent{}, "", refuse(http.StatusBadRequest, "body", "not an Events API event (%v)", clip(err.Error(), 120))
	}
	var id string
	if cb, ok := ev.Data.(*slackevents.EventsAPICallbackEvent); ok {
		id = cb.EventID
	}
	return ev, id, nil
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func (c *Client) httpCommand(ctx context.Context, req request) (any, error) {
	cmd, err := ParseCommand(req.body)
	if err != nil {
		return nil, err
	}
	return c.command(ctx, cmd, req.mark)
}

func (c *Client) httpInteraction(ctx context.Context, req request) (any, error) {
	cb, err := ParseInteraction(req.body)
	if err != nil {
		return nil, err
	}
	return nil, c.interaction(ctx, cb, req.mark)
}

func (c *Client) httpEvent(ctx context.Context, req request) (any, error) {
	ev, id, err := ParseEvent(req.body)
	if err != nil {
		return nil, err
	}
	return c.event(ctx, ev, id, req.mark)
}

// commandAnswer is a slash command's immediate answer.
type commandAnswer struct {
	ResponseType string `json:"response_type"`
	Text         string `json:"text"`
}

func responseType(r adapters.Reply) string {
	if r.Private {
		return slack.ResponseTypeEphemeral
	}
	return slack.ResponseTypeInChannel
}

// command takes a slash command ("/sitrep ack 42"): its first word is the
// command, the rest its text. It answers within AckWithin: the Reply if it
// is ready, else nothing, and the Reply follows through response_url.
func (c *Client) command(ctx context.Context, cmd slack.SlashCommand, mark func(context.Context) error) (any, error) {
	switch {
	case cmd.Command == "":
		return nil, refuse(http.StatusBadRequest, "command", "required")
	case !strings.EqualFold(cmd.Command, c.opts.Command):
		return nil, refuse(http.StatusBadRequest, "command", "%q is not sitrep's command (%s)", clip(cmd.Command, 40), c.opts.Command)
	case cmd.ChannelID == "":
		return nil, refuse(http.StatusBadRequest, "channel_id", "required")
	case cmd.UserID == "":
		return nil, refuse(http.StatusBadRequest, "user_id", "required")
	}
	if !c.known(cmd.ChannelID) {
		return commandAnswer{ResponseType: slack.ResponseTypeEphemeral,
			Text: "This channel is not a sitrep room: ask an admin to add it (platform slack, id " + cmd.ChannelID + ")."}, nil
	}
	word, rest, _ := strings.Cut(strings.TrimSpace(cmd.Text), " ")
	if word == "" {
		word = "help"
	}
	in := adapters.Inbound{
		Platform: Platform, RoomID: cmd.ChannelID, Command: word, Text: strings.TrimSpace(rest),
		User: c.users.name(ctx, cmd.UserID, cmd.UserName), UserID: cmd.UserID, Time: c.opts.Now().UTC(),
	}
	if cmd.TriggerID != "" {
		in.Key = "command:" + cmd.TriggerID
	}
	if err := mark(ctx); err != nil {
		return nil, err
	}
	reply, done, err := c.dispatch(ctx, in, func(ctx context.Context, r adapters.Reply) error {
		return c.respond(ctx, cmd.ResponseURL, r)
	})
	if err != nil || !done || reply.Empty() {
		return nil, err
	}
	return commandAnswer{ResponseType: responseType(reply), Text: cutEscaped(reply.Text, MaxText)}, nil
}

// dispatch stores in in the inbox, then hands it over. The store comes
// first, with no deadline: Slack is answered only once in is stored (an error
// storing it is returned, so Slack is not acked and sends it again; a retry
// of one already stored is done with no Reply). If the handling answers
// within AckWithin, its Reply is returned (done); else later is called with
// it once it comes.
func (c *Client) dispatch(ctx context.Context, in adapters.Inbound, later func(context.Context, adapters.Reply) error) (adapters.Reply, bool, error) {
	ticket, err := c.opts.Inbox.Store(ctx, in)
	if errors.Is(err, inbox.ErrDuplicate) {
		c.log.Info("slack: a retry of a request already received is dropped", "channel", in.RoomID, "key", in.Key)
		return adapters.Reply{}, true, nil
	}
	if err != nil {
		return adapters.Reply{}, false, fmt.Errorf("slack: store inbound: %w", err)
	}
	type result struct {
		r   adapters.Reply
		err error
	}
	ch := make(chan result, 1)
	// Not cut short if Slack hangs up: in is stored, and the inbox bounds
	// the call.
	hctx := context.WithoutCancel(ctx)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		r, err := c.opts.Inbox.Handle(hctx, ticket, in)
		ch <- result{r, err}
	}()
	t := time.NewTimer(c.opts.AckWithin)
	defer t.Stop()
	select {
	case res := <-ch:
		return res.r, true, res.err
	case <-t.C:
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		res := <-ch
		if res.err != nil {
			c.log.Error("slack inbound failed", "channel", in.RoomID, "err", res.err)
			return
		}
		if res.r.Empty() {
			return
		}
		sctx, cancel := context.WithTimeout(hctx, 30*time.Second)
		defer cancel()
		if err := later(sctx, res.r); err != nil {
			c.log.Warn("slack: slow answer not delivered", "channel", in.RoomID, "err", err)
		}
	}()
	return adapters.Reply{}, false, nil
}

// respond posts a Reply to a response_url.
func (c *Client) respond(ctx context.Context, responseURL string, r adapters.Reply) error {
	if responseURL == "" || r.Empty() {
		return nil
	}
	msg := &slack.WebhookMessage{Text: cutEscaped(r.Text, MaxText), ResponseType: responseType(r), ReplaceOriginal: r.Replace && !r.Private}
	if err := slack.PostWebhookCustomHTTPContext(ctx, responseURL, c.http, msg); err != nil {
		// A response_url is a credential for half an hour: no error shows it.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("slack: post to response_url: %w", err)
	}
	return nil
}

// interaction takes a button press on a card: block_actions with one of
// sitrep's action_ids, whose value is the incident ID.
func (c *Client) interaction(ctx context.Context, cb slack.InteractionCallback, mark func(context.Context) error) error {
	if cb.Type != slack.InteractionTypeBlockActions {
		return refuse(http.StatusBadRequest, "type", "interaction type %q is not one sitrep uses (block_actions)", clip(string(cb.Type), 40))
	}
	if len(cb.ActionCallback.BlockActions) != 1 || cb.ActionCallback.BlockActions[0] == nil {
		return refuse(http.StatusBadRequest, "actions", "expected exactly one action")
	}
	a := cb.ActionCallback.BlockActions[0]
	verb, ok := verbOf(a.ActionID)
	if !ok {
		return refuse(http.StatusBadRequest, "actions[0].action_id", "unknown action_id %q", clip(a.ActionID, 40))
	}
	id, err := strconv.ParseUint(a.Value, 10, 64)
	if err != nil || id == 0 {
		return refuse(http.StatusBadRequest, "actions[0].value", "not an incident ID")
	}
	channel := cb.Channel.ID
	if channel == "" {
		channel = cb.Container.ChannelID
	}
	if channel == "" {
		return refuse(http.StatusBadRequest, "channel.id", "required")
	}
	if cb.User.ID == "" {
		return refuse(http.StatusBadRequest, "user.id", "required")
	}
	if !c.known(channel) {
		return refuse(http.StatusForbidden, "channel.id", "channel %s is not a sitrep room", clip(channel, 30))
	}
	ts := cb.Container.MessageTs
	if ts == "" {
		ts = cb.Message.Timestamp
	}
	send := func(ctx context.Context, r adapters.Reply) error { return c.respond(ctx, cb.ResponseURL, r) }
	if card, ok := c.incidentOf(channel, ts); ok && card != id {
		// A button's value names another incident than the card it is on:
		// not what the responder saw, so nothing is done.
		c.log.Warn("slack: button press refused: its incident is not the card's", "channel", channel, "ts", ts, "card", card, "value", id)
		c.sendAfterAck(ctx, "a refused button press", channel, send, adapters.Reply{Private: true,
			Text: "That button does not belong to the card it is on (incident #" + strconv.FormatUint(card, 10) + "): nothing was done."})
		return nil
	}
	in := adapters.Inbound{
		Platform: Platform, RoomID: channel, Action: &adapters.Action{Verb: verb, IncidentID: id}, MessageID: ts,
		User: c.users.name(ctx, cb.User.ID, cb.User.Name), UserID: cb.User.ID, Time: c.opts.Now().UTC(),
	}
	switch {
	case cb.TriggerID != "":
		in.Key = "action:" + cb.TriggerID
	case a.ActionTs != "":
		in.Key = "action:" + channel + ":" + ts + ":" + a.ActionTs
	}
	if err := mark(ctx); err != nil {
		return err
	}
	reply, done, err := c.dispatch(ctx, in, send)
	if err != nil || !done || reply.Empty() {
		return err
	}
	// Slack shows nothing of a block_actions answer's body: the reply goes
	// through response_url, after the ack, which must not wait for it.
	c.sendAfterAck(ctx, "a button press", channel, send, reply)
	return nil
}

// challenge answers url_verification.
type challenge struct {
	Challenge string `json:"challenge"`
}

// event takes an Events API event: url_verification, and message events.
// A person's message in a card's thread is chat on that incident; other
// messages go through as typed. Bots' messages (sitrep's own included),
// edits, deletes and other subtypes are ignored.
func (c *Client) event(ctx context.Context, ev slackevents.EventsAPIEvent, eventID string, mark func(context.Context) error) (any, error) {
	switch ev.Type {
	case slackevents.URLVerification:
		v, ok := ev.Data.(*slackevents.EventsAPIURLVerificationEvent)
		if !ok || v.Challenge == "" {
			return nil, refuse(http.StatusBadRequest, "challenge", "required")
		}
		return challenge{Challenge: v.Challenge}, nil
	case slackevents.CallbackEvent:
	default:
		return nil, refuse(http.StatusBadRequest, "type", "event type %q is not one sitrep uses", clip(ev.Type, 40))
	}
	m, ok := ev.InnerEvent.Data.(*slackevents.MessageEvent)
	if !ok {
		return nil, refuse(http.StatusBadRequest, "event.type", "event %q is not one sitrep subscribes to (message)", clip(ev.InnerEvent.Type, 40))
	}
	if eventID == "" {
		return nil, refuse(http.StatusBadRequest, "event_id", "required")
	}
	if (m.SubType != "" && m.SubType != "thread_broadcast") || m.BotID != "" || m.User == "" || strings.TrimSpace(m.Text) == "" {
		return nil, nil // not a person's new message
	}
	if _, ours := c.incidentOf(m.Channel, m.TimeStamp); ours || !c.known(m.Channel) {
		return nil, nil
	}
	text := strings.TrimSpace(m.Text)
	if m.ThreadTimeStamp != "" && m.ThreadTimeStamp != m.TimeStamp {
		if id, ok := c.incidentOf(m.Channel, m.ThreadTimeStamp); ok && !strings.HasPrefix(text, "/") && !strings.HasPrefix(text, "!") {
			text = "#" + strconv.FormatUint(id, 10) + " " + text
		}
	}
	in := adapters.Inbound{
		Platform: Platform, RoomID: m.Channel, Text: text, MessageID: m.TimeStamp, Key: "event:" + eventID,
		User: c.users.name(ctx, m.User, ""), UserID: m.User, Time: c.opts.Now().UTC(),
	}
	if err := mark(ctx); err != nil {
		return nil, err
	}
	send := func(ctx context.Context, r adapters.Reply) error {
		return c.say(ctx, m.Channel, m.User, m.ThreadTimeStamp, r)
	}
	reply, done, err := c.dispatch(ctx, in, send)
	if err != nil || !done || reply.Empty() {
		return nil, err
	}
	c.sendAfterAck(ctx, "a message", m.Channel, send, reply)
	return nil, nil
}

// say answers a typed line: privately (chat.postEphemeral) or in the
// channel, under thread if the line was in one.
func (c *Client) say(ctx context.Context, channel, user, thread string, r adapters.Reply) error {
	opts := []slack.MsgOption{slack.MsgOptionText(cutEscaped(r.Text, MaxText), false)}
	if thread != "" {
		opts = append(opts, slack.MsgOptionTS(thread))
	}
	var err error
	if r.Private {
		_, err = c.api.PostEphemeralContext(ctx, channel, user, opts...)
	} else {
		_, _, err = c.api.PostMessageContext(ctx, channel, opts...)
	}
	if err != nil {
		return fmt.Errorf("slack: answer in %s: %w", channel, err)
	}
	return nil
}

// sendAfterAck sends reply (the answer to what) once Slack has been
// answered, which must not wait for it.
func (c *Client) sendAfterAck(ctx context.Context, what, channel string, send func(context.Context, adapters.Reply) error, reply adapters.Reply) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := send(sctx, reply); err != nil {
			c.log.Warn("slack: answer to "+what+" not delivered", "channel", channel, "err", err)
		}
	}()
}
