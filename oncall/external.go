package oncall

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sitrep/sitrep/outbox"
)

// ExternalChange is an on-call change another tool reports (POST
// /v1/oncall), for a team whose schedule lives there.
type ExternalChange struct {
	Team  string `json:"team"`
	User  string `json:"user"`
	State string `json:"state"` // StateOnCall or StateOffCall
}

// The fields of POST /v1/oncall: Splunk On-Call's outgoing-webhook
// variables, or their short names.
var externalFields = []struct{ long, short string }{
	{"ONCALL.TEAM_NAME", "team"},
	{"ONCALL.USER_ID", "user"},
	{"ONCALL.STATE", "state"},
}

// MaxExternalBody is the largest POST /v1/oncall body taken.
const MaxExternalBody = 64 << 10

// DecodeExternal reads a POST /v1/oncall body: one JSON object with
// ONCALL.TEAM_NAME or team, ONCALL.USER_ID or user, and ONCALL.STATE or
// state (on-call or off-call, any case; oncall, off_call and the like too).
// Other members are ignored, as a webhook carries many. Its error is a
// *FieldError naming the member at fault.
func DecodeExternal(body []byte) (ExternalChange, error) {
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&raw); err != nil || raw == nil {
		return ExternalChange{}, &FieldError{Msg: "expected a JSON object with ONCALL.TEAM_NAME (or team), ONCALL.USER_ID (or user) and ONCALL.STATE (or state)"}
	}
	if dec.More() {
		return ExternalChange{}, &FieldError{Msg: "more than one JSON value in the body"}
	}
	vals := make([]string, len(externalFields))
	for i, f := range externalFields {
		var got []string
		for _, name := range []string{f.long, f.short} {
			v, ok := raw[name]
			if !ok {
				continue
			}
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return ExternalChange{}, &FieldError{Field: name, Msg: "must be a string"}
			}
			got = append(got, strings.TrimSpace(s))
		}
		switch {
		case len(got) == 0 || got[0] == "" && (len(got) == 1 || got[1] == ""):
			return ExternalChange{}, &FieldError{Field: f.long, Msg: fmt.Sprintf("required (or %s)", f.short)}
		case len(got) == 2 && got[0] != got[1] && got[0] != "" && got[1] != "":
			return ExternalChange{}, &FieldError{Field: f.short, Msg: fmt.Sprintf("differs from %s: send one of them", f.long)}
		}
		vals[i] = got[0]
		if vals[i] == "" {
			vals[i] = got[1]
		}
	}
	c := ExternalChange{Team: vals[0], User: vals[1]}
	switch strings.NewReplacer("-", "", "_", "", " ", "").Replace(strings.ToLower(vals[2])) {
	case "oncall":
		c.State = StateOnCall
	case "offcall":
		c.State = StateOffCall
	default:
		return ExternalChange{}, &FieldError{Field: fieldOf(raw, 2), Msg: fmt.Sprintf("expected on-call or off-call, got %q", vals[2])}
	}
	if !nameRE.MatchString(c.Team) {
		return ExternalChange{}, &FieldError{Field: fieldOf(raw, 0), Msg: fmt.Sprintf("%q is not a team name", c.Team)}
	}
	if !personRE.MatchString(c.User) {
		return ExternalChange{}, &FieldError{Field: fieldOf(raw, 1), Msg: fmt.Sprintf("%q is not a name (up to 64 characters, no spaces, <, >, @ or &)", c.User)}
	}
	return c, nil
}

// fieldOf names the member of field i the body used.
func fieldOf(raw map[string]json.RawMessage, i int) string {
	if _, ok := raw[externalFields[i].long]; ok {
		return externalFields[i].long
	}
	return externalFields[i].short
}

// External records c and, when it changes who is on call, announces it in
// the team's rooms and on its timeline, in one transaction. A change that
// changes nothing (a retry, a repeat) reports false and posts nothing. An
// unknown team is an *UnknownTeamError.
func (s *Service) External(ctx context.Context, c ExternalChange) (bool, error) {
	if !s.known(c.Team) {
		return false, &UnknownTeamError{Team: c.Team, Known: s.knownTeams()}
	}
	var changed bool
	var touched []string
	var after map[string]time.Time
	err := s.opts.DB.Update(ctx, func(tx *bolt.Tx) error {
		changed, touched = false, nil
		now := s.opts.Now()
		b, err := nested(tx, bucketExternal)
		if err != nil {
			return err
		}
		on := map[string]time.Time{}
		if raw := b.Get([]byte(c.Team)); raw != nil {
			if err := json.Unmarshal(raw, &on); err != nil {
				return fmt.Errorf("decode on-call record: %w", err)
			}
		}
		_, was := on[c.User]
		if was == (c.State == StateOnCall) {
			after = on
			return nil
		}
		changed = true
		if c.State == StateOnCall {
			on[c.User] = now.UTC()
		} else {
			delete(on, c.User)
		}
		raw, err := json.Marshal(on)
		if err != nil {
			return err
		}
		if err := b.Put([]byte(c.Team), raw); err != nil {
			return err
		}
		a := announcement{team: c.Team, to: c.User, at: now, loc: s.zone(c.Team), external: true, off: c.State == StateOffCall}
		if sch, ok := s.Get(c.Team); ok {
			a.users = sch.s.Users
		}
		touched, err = s.announce(tx, outbox.TxQueue(tx, now), a)
		after = on
		return err
	})
	if err != nil {
		return false, fmt.Errorf("on-call change for team %s: %w", c.Team, err)
	}
	s.mu.Lock()
	s.external[c.Team] = after
	s.mu.Unlock()
	s.opts.Notify(touched...)
	return changed, nil
}

// Answer is /oncall's reply for team at now: who is on call now and next in
// each rotation, in the team's zone, and who another tool reported. An
// unknown team is an *UnknownTeamError listing the known ones.
func (s *Service) Answer(team string, now time.Time) (string, error) {
	s.mu.RLock()
	c := s.scheds[team]
	ext := s.external[team]
	s.mu.RUnlock()
	if c == nil && len(ext) == 0 {
		known := s.Teams()
		if s.known(team) {
			if len(known) == 0 {
				return team + " has no on-call schedule, and no team has one yet", nil
			}
			return fmt.Sprintf("%s has no on-call schedule; teams with one: %s", team, strings.Join(known, ", ")), nil
		}
		return "", &UnknownTeamError{Team: team, Known: s.knownTeams()}
	}
	var sb strings.Builder
	loc := s.zone(team)
	if c != nil {
		loc = c.loc
	}
	fmt.Fprintf(&sb, "%s on call (times in %s):", team, loc)
	if c != nil {
		for _, sh := range c.At(now) {
			fmt.Fprintf(&sb, "\n%s: %s", sh.Rotation, sh.User)
			if sh.Override {
				sb.WriteString(" (override)")
			}
			if sh.Until.IsZero() {
				sb.WriteString(", no handoff ahead")
				continue
			}
			fmt.Fprintf(&sb, " until %s; next %s", FormatTime(sh.Until, loc), sh.Next)
			if !sh.NextUntil.IsZero() {
				fmt.Fprintf(&sb, " until %s", FormatTime(sh.NextUntil, loc))
			}
		}
	}
	if len(ext) > 0 {
		users := sortedKeys(ext)
		slices.SortStableFunc(users, func(a, b string) int { return ext[a].Compare(ext[b]) })
		parts := make([]string, len(users))
		for i, u := range users {
			parts[i] = u + " since " + FormatTime(ext[u], loc)
		}
		fmt.Fprintf(&sb, "\nreported by the team's on-call tool: %s", strings.Join(parts, ", "))
	}
	return sb.String(), nil
}

// IsUnknownTeam reports whether err is an *UnknownTeamError.
func IsUnknownTeam(err error) bool {
	var u *UnknownTeamError
	return errors.As(err, &u)
}
