package oncall

import (
	"context"
	"strings"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/commands"
)

// Command is /oncall [team]: who is on call now and next in each of the
// team's rotations, times in the team's zone; without a team, the team of
// the room it was typed in (teamOf). An unknown team gets the known ones.
func (s *Service) Command(teamOf func(in adapters.Inbound) string) func(context.Context, commands.Command, adapters.Inbound) (string, error) {
	return func(_ context.Context, cmd commands.Command, in adapters.Inbound) (string, error) {
		team := strings.TrimSpace(cmd.Sub)
		if team == "" {
			team = teamOf(in)
		}
		if team == "" {
			known := s.Teams()
			if len(known) == 0 {
				return "usage: /oncall [team] (this room has no team, and no team has an on-call schedule yet)", nil
			}
			return "usage: /oncall [team] (this room has no team; teams on call: " + strings.Join(known, ", ") + ")", nil
		}
		ans, err := s.Answer(team, s.opts.Now())
		if IsUnknownTeam(err) {
			return err.Error(), nil
		}
		return ans, err
	}
}
