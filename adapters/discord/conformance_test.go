package discord

import (
	"context"
	"slices"
	"testing"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/adapters/conformance"
	"github.com/sitrep/sitrep/adapters/discord/discordtest"
)

func TestConformance(t *testing.T) {
	conformance.Run(t, func(t *testing.T) conformance.Harness {
		rec := conformance.NewRecorder()
		f := newFixture(t, rec.Handle, nil)
		// The suite posts ten at once: pacing is the outbox's job, not the adapter's.
		f.fake.Limit = 1000
		f.runGateway(t)
		room := adapters.Room{Name: "ops", ID: f.fake.AddChannel()}
		return conformance.Harness{
			Chat: f.c,
			Room: room,
			Seen: func(context.Context) ([]conformance.Seen, error) {
				var out []conformance.Seen
				for _, m := range f.fake.Messages(room.ID) {
					out = append(out, seen(m, ""))
					if f.fake.Parent(m.ID) == room.ID {
						for _, r := range f.fake.Messages(m.ID) {
							out = append(out, seen(r, m.ID))
						}
					}
				}
				return out, nil
			},
			Say: func(_ context.Context, user, text string) error {
				f.fake.Say(room.ID, userID(user), user, text, nil)
				return nil
			},
			Press: func(ctx context.Context, user, messageID string, verb adapters.Verb) error {
				m, _ := f.fake.Message(messageID)
				id := ""
				for _, b := range m.Buttons {
					if v, _, ok := ParseCustomID(b); ok && v == verb {
						id = b
					}
				}
				code, body := f.post(t, press(room.ID, messageID, user, id), true)
				if code != 200 {
					t.Errorf("press: %d %v", code, body)
				}
				return nil
			},
			Inbound: rec.Inbound(),
			Answer:  rec.Answer,
			// A private reply is a direct message; any other shows in the room.
			Replies: func(_ context.Context, user string) ([]string, error) {
				out := f.fake.DMs(userID(user))
				for _, m := range f.fake.Messages(room.ID) {
					if m.Author == discordtest.BotID && m.Content != "" {
						out = append(out, m.Content)
					}
				}
				return out, nil
			},
		}
	})
}

func seen(m discordtest.Message, parent string) conformance.Seen {
	s := conformance.Seen{ID: m.ID, Text: m.Text(), Parent: parent}
	for _, b := range m.Buttons {
		if v, _, ok := ParseCustomID(b); ok {
			s.Actions = append(s.Actions, v)
		}
	}
	s.Actions = slices.Clip(s.Actions)
	return s
}
