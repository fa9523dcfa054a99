package routing

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Escalation is one step of a rule's escalate: block: an incident the rule
// routed that is still unacknowledged After its opening is announced in
// Rooms (and on its own rooms), naming the person on call.
type Escalation struct {
	After time.Duration `json:"after" yaml:"after"`
	Rooms []string      `json:"rooms" yaml:"rooms"`
	// MentionOncall mentions the person on call where the platform can.
	MentionOncall bool `json:"mention_oncall,omitempty" yaml:"mention_oncall,omitempty"`
}

// EscalationTarget is one escalation step an alert's incident gets, as a
// matched rule's escalate: block made it.
type EscalationTarget struct {
	Rule string `json:"rule"`
	Step int    `json:"step"` // its index in the rule's escalate list
	Escalation
}

// maxEscalations bounds a rule's escalate list.
const maxEscalations = 20

func compileEscalations(steps []Escalation, roomExists func(string) bool, fail func(field string, err error)) []Escalation {
	if len(steps) == 0 {
		return nil
	}
	ok := true
	if len(steps) > maxEscalations {
		fail("escalate", fmt.Errorf("at most %d steps", maxEscalations))
		ok = false
	}
	for i, s := range steps {
		p := fmt.Sprintf("escalate[%d]", i)
		if s.After <= 0 {
			fail(p+".after", errors.New("must be longer than 0, such as 5m"))
			ok = false
		}
		if len(s.Rooms) == 0 {
			fail(p+".rooms", errors.New("at least one room to escalate to"))
			ok = false
		}
		for j, room := range s.Rooms {
			field := fmt.Sprintf("%s.rooms[%d]", p, j)
			switch k := slices.Index(s.Rooms, room); {
			case room == "":
				fail(field, errors.New("empty room name"))
				ok = false
			case k < j:
				fail(field, fmt.Errorf("room %q is already listed as rooms[%d]", room, k))
				ok = false
			case roomExists != nil && !roomExists(room):
				fail(field, fmt.Errorf("unknown room %q", room))
				ok = false
			}
		}
	}
	if !ok {
		return nil
	}
	out := make([]Escalation, len(steps))
	for i, s := range steps {
		out[i] = Escalation{After: s.After, Rooms: slices.Clone(s.Rooms), MentionOncall: s.MentionOncall}
	}
	return out
}
