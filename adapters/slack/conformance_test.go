package slack_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/adapters/conformance"
	slackadapter "github.com/sitrep/sitrep/adapters/slack"
	"github.com/sitrep/sitrep/adapters/slack/slacktest"
)

func verbsOf(m slacktest.Message) []adapters.Verb {
	var out []adapters.Verb
	for _, id := range m.Actions() {
		switch id {
		case slackadapter.ActionAck:
			out = append(out, adapters.VerbAck)
		case slackadapter.ActionResolve:
			out = append(out, adapters.VerbResolve)
		}
	}
	return out
}

func TestConformance(t *testing.T) {
	conformance.Run(t, func(t *testing.T) conformance.Harness {
		rec := conformance.NewRecorder()
		// The suite does not pace its posts as the outbox does: no rate limit here.
		f := newFixture(t, rec.Handle, nil, slacktest.WithRateLimit(1000, time.Millisecond))
		room := adapters.Room{Name: "ops", ID: chanOps}
		return conformance.Harness{
			Chat: f.client,
			Room: room,
			Seen: func(context.Context) ([]conformance.Seen, error) {
				var out []conformance.Seen
				for _, m := range f.fake.Messages(chanOps) {
					out = append(out, conformance.Seen{ID: m.TS, Text: slacktest.Shown(m.Text), Parent: m.ThreadTS, Actions: verbsOf(m)})
				}
				return out, nil
			},
			Say: func(ctx context.Context, user, text string) error {
				_, r, err := f.fake.Say(ctx, chanOps, user, text, "")
				if err == nil && r.Status != 200 {
					err = errors.New("events answered " + string(r.Body))
				}
				return err
			},
			Press: func(ctx context.Context, user, id string, verb adapters.Verb) error {
				m, ok := f.fake.Message(chanOps, id)
				if !ok {
					return errors.New("no message " + id)
				}
				i := slices.Index(verbsOf(m), verb)
				if i < 0 {
					return errors.New("no button for " + string(verb))
				}
				action := m.Actions()[i]
				r, err := f.fake.Press(ctx, chanOps, user, id, action, m.ButtonValue(action))
				if err == nil && r.Status != 200 {
					err = errors.New("interactions answered " + string(r.Body))
				}
				return err
			},
			Inbound: rec.Inbound(),
			Answer:  rec.Answer,
			Replies: func(_ context.Context, user string) ([]string, error) {
				var out []string
				for _, r := range f.fake.Responses() {
					if r.User == slacktest.UserID(user) || r.ResponseType == "in_channel" {
						out = append(out, slacktest.Shown(r.Text))
					}
				}
				for _, m := range f.fake.Messages(chanOps) {
					if m.Bot {
						out = append(out, slacktest.Shown(m.Text))
					}
				}
				return out, nil
			},
		}
	})
}
