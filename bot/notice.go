package bot

import (
	"context"
	"errors"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/commands"
	"github.com/sitrep/sitrep/hipchatapi"
	"github.com/sitrep/sitrep/rooms"
	"github.com/sitrep/sitrep/timeline"
)

// Notice is the HipChat-compatible API's Sink. A notice reaches its room and
// lands on the room's team timeline, reaching the team's other rooms (a room
// with no team: that room only). One that names an incident ("#42 …") also
// lands on the incident's timeline and so reaches the incident's rooms,
// which the team delivery then skips (no room gets it twice). It returns
// once all of it is durable: only then does the API answer 204.
func (b *Bot) Notice(ctx context.Context, room rooms.Room, n hipchatapi.Notice) error {
	msg := adapters.Message{Text: n.Text, Color: n.Color, User: n.From}
	if n.Card != nil {
		msg.Title = n.Card.Title
		if n.Card.Description != "" {
			msg.Text += "\n" + n.Card.Description
		}
	}
	origin := timeline.Origin{Adapter: hipchatapi.Adapter, Room: room.Name, User: n.From, Time: n.Time}
	if cmd, ok, err := commands.Parse(n.Text); ok && err == nil && cmd.Verb == commands.VerbChat && strings.HasPrefix(n.Text, "#") {
		// The incident's chat line and the team's notice commit together:
		// a retry of a request that failed cannot repeat one of them.
		_, err := b.tl.Act(ctx, timeline.Action{IncidentID: cmd.IncidentID, Kind: timeline.KindChat, Text: cmd.Text, Origin: origin,
			Also: func(tx *bolt.Tx, res timeline.Result) ([]string, error) {
				var except []string
				for _, r := range res.Incident.Rooms {
					if r != room.Name {
						except = append(except, r)
					}
				}
				return b.teams.NoticeTx(tx, room, msg, origin, except...)
			}})
		if !errors.Is(err, timeline.ErrNotFound) {
			if err != nil {
				return fmt.Errorf("notice on incident #%d: %w", cmd.IncidentID, err)
			}
			return nil
		}
	}
	if err := b.teams.Notice(ctx, room, msg, origin); err != nil {
		return fmt.Errorf("notice for room %s: %w", room.Name, err)
	}
	return nil
}
