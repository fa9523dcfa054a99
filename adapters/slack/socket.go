package slack

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"
)

// socketRetry is how long RunSocket waits before opening a new connection
// after socketmode gave up on one.
const socketRetry = 5 * time.Second

func noMark(context.Context) error { return nil }

// RunSocket takes Slack's requests over Socket Mode (when an app-level
// token is set) until ctx ends: the same handlers as the Request URLs, each
// request acked once handled (within AckWithin, Slack allows 3 s).
// socketmode reconnects when Slack drops or refreshes the connection.
func (c *Client) RunSocket(ctx context.Context) error {
	if c.opts.AppToken == "" {
		return nil
	}
	for {
		sm := socketmode.New(c.api)
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			c.socketEvents(runCtx, sm)
		}()
		err := sm.RunContext(runCtx)
		cancel()
		<-done
		if ctx.Err() != nil {
			return nil
		}
		c.log.Warn("slack socket mode stopped; reconnecting", "err", err, "in", socketRetry)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(socketRetry):
		}
	}
}

// maxSocketInFlight bounds the envelopes handled at once over Socket Mode.
const maxSocketInFlight = 16

// socketEvents handles each envelope in its own goroutine (at most
// maxSocketInFlight at once), which acks it: one slow request must not hold
// back the acks of those behind it past Slack's 3 s.
func (c *Client) socketEvents(ctx context.Context, sm *socketmode.Client) {
	var wg sync.WaitGroup
	defer wg.Wait()
	sem := make(chan struct{}, maxSocketInFlight)
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-sm.Events:
			if !ok {
				return
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			wg.Go(func() {
				defer func() { <-sem }()
				c.socketEvent(ctx, sm, ev)
			})
		}
	}
}

func (c *Client) socketEvent(ctx context.Context, sm *socketmode.Client, ev socketmode.Event) {
	var payload any
	var err error
	switch ev.Type {
	case socketmode.EventTypeEventsAPI:
		e, ok := ev.Data.(slackevents.EventsAPIEvent)
		if !ok {
			err = refuse(400, "payload", "not an Events API event")
			break
		}
		var id string
		if cb, ok := e.Data.(*slackevents.EventsAPICallbackEvent); ok {
			id = cb.EventID
		}
		_, err = c.event(ctx, e, id, noMark)
	case socketmode.EventTypeInteractive:
		cb, ok := ev.Data.(slack.InteractionCallback)
		if !ok {
			err = refuse(400, "payload", "not an interaction")
			break
		}
		err = c.interaction(ctx, cb, noMark)
	case socketmode.EventTypeSlashCommand:
		cmd, ok := ev.Data.(slack.SlashCommand)
		if !ok {
			err = refuse(400, "payload", "not a slash command")
			break
		}
		payload, err = c.command(ctx, cmd, noMark)
	case socketmode.EventTypeConnected:
		c.log.Info("slack socket mode connected")
		return
	case socketmode.EventTypeInvalidAuth:
		c.log.Error("slack socket mode: the app-level token was refused (invalid_auth)")
		return
	default:
		return
	}
	var ref *Refusal
	switch {
	case errors.As(err, &ref):
		// Bad input: acked, so Slack does not send it again.
		c.log.Warn("slack socket request refused", "type", ev.Type, "field", ref.Field, "reason", ref.Msg)
		payload = nil
	case err != nil:
		// Not taken: no ack, so Slack sends it again (the inbox dedupes).
		c.log.Error("slack socket request failed; not acked, Slack will retry", "type", ev.Type, "err", err)
		return
	}
	if ev.Request == nil {
		return
	}
	if payload != nil {
		err = sm.AckCtx(ctx, ev.Request.EnvelopeID, payload)
	} else {
		err = sm.AckCtx(ctx, ev.Request.EnvelopeID, nil)
	}
	if err != nil && ctx.Err() == nil {
		c.log.Warn("slack socket ack failed", "err", err)
	}
}
