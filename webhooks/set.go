package webhooks

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/outbox"
	"github.com/sitrep/sitrep/routing"
	"github.com/sitrep/sitrep/storage"
	"github.com/sitrep/sitrep/timeline"
)

// RoomPrefix begins a webhook's outbox room: "webhook:statushub".
const RoomPrefix = "webhook:"

// Room is the outbox room of the webhook named name.
func Room(name string) string { return RoomPrefix + name }

// Writer takes a webhook's delivery inside the event's transaction (fan-out's
// Writer, or an outbox.Queue).
type Writer interface {
	Enqueue(room string, it outbox.Item) error
}

// Set is a compiled list of webhooks. It is immutable and safe for
// concurrent use.
type Set struct {
	opts        Options
	hooks       []hook
	byKind      map[timeline.Kind][]int
	byName      map[string]int
	countAlerts bool // some template names STATE.ALERT_COUNT
}

// Hooks returns a copy of the webhooks, as configured (secrets included).
func (s *Set) Hooks() []Hook {
	out := make([]Hook, len(s.hooks))
	for i, h := range s.hooks {
		out[i] = h.Hook
		out[i].Headers = maps.Clone(h.Headers)
	}
	return out
}

// Len is the number of webhooks.
func (s *Set) Len() int { return len(s.hooks) }

// Secret returns the signing secret of the webhook named name ("" for none),
// and false when there is no such webhook.
func (s *Set) Secret(name string) (string, bool) {
	i, ok := s.byName[name]
	if !ok {
		return "", false
	}
	return s.hooks[i].SigningSecret, true
}

// Dispatch runs inside the transaction that records ev on inc, after
// fan-out (inc.Fields then hold the routes' set values): it enqueues, for
// each webhook subscribed to ev's kind whose templates name no unset field,
// its rendered request. tx is the event's transaction (read for
// ${{STATE.ALERT_COUNT}}; nil counts nothing). It returns the outbox rooms
// it enqueued for, to wake once tx is committed (timeline.Dispatched.Wake).
func (s *Set) Dispatch(tx *bolt.Tx, q Writer, inc *timeline.Incident, ev *timeline.Event) ([]string, error) {
	idx := s.byKind[ev.Kind]
	if len(idx) == 0 {
		return nil, nil
	}
	var count func() int
	if s.countAlerts && tx != nil {
		count = func() int { return alertCount(tx, inc.ID, ev) }
	}
	vars := incidentVars(inc, ev, s.opts.PublicURL, count)
	msg := adapters.Message{IncidentID: inc.ID, EventID: ev.ID, Kind: ev.Kind, State: inc.State, Title: inc.Title}
	var rooms []string
	for _, i := range idx {
		ok, err := s.hooks[i].enqueue(q, vars, msg)
		if err != nil {
			return nil, err
		}
		if ok {
			rooms = append(rooms, Room(s.hooks[i].Name))
		}
	}
	return rooms, nil
}

// TeamChat enqueues, inside the transaction that records a chat line typed
// in one of team's rooms that names no incident, the requests of the
// All-Chats webhooks whose templates name no unset field: CHAT.* is set
// (TEAM too), ALERT.*, STATE.* and INCIDENT.* are not. It returns the outbox
// rooms it enqueued for, to wake once the transaction is committed.
func (s *Set) TeamChat(q Writer, team string, origin timeline.Origin, text string) ([]string, error) {
	vars := &routing.Vars{Chat: chatVars(origin, text)}
	vars.Chat["TEAM"] = team
	var rooms []string
	for _, i := range s.byKind[timeline.KindChat] {
		h := &s.hooks[i]
		if h.event != AllChats {
			continue
		}
		ok, err := h.enqueue(q, vars, adapters.Message{Kind: timeline.KindChat, User: origin.User})
		if err != nil {
			return nil, err
		}
		if ok {
			rooms = append(rooms, Room(h.Name))
		}
	}
	return rooms, nil
}

// Change is an on-call change, as webhooks hear of it.
type Change struct {
	User   string    // who went on or off call
	Team   string    // the team whose schedule changed
	OnCall bool      // true: went on call; false: went off call
	Group  string    // the schedule or rotation, if any
	Time   time.Time // when
}

// OnCallChange enqueues, inside the transaction that records an on-call
// change, the requests of the On-Call (c.OnCall), Off-Call (!c.OnCall) and
// Any-On-Call webhooks whose templates name no unset field. Their templates
// read ${{ONCALL.USER_ID}}, ${{ONCALL.TEAM_NAME}}, ${{ONCALL.STATE}}
// (ON_CALL or OFF_CALL), ${{ONCALL.GROUP_ID}} and ${{ONCALL.TIMESTAMP}}. It
// returns the outbox rooms it enqueued for, to wake once the transaction is
// committed.
func (s *Set) OnCallChange(q Writer, c Change) ([]string, error) {
	state, event := "OFF_CALL", OffCall
	if c.OnCall {
		state, event = "ON_CALL", OnCall
	}
	vars := &routing.Vars{OnCall: map[string]string{
		"USER_ID": c.User, "TEAM_NAME": c.Team, "STATE": state, "GROUP_ID": c.Group, "TIMESTAMP": millis(c.Time),
	}}
	who := c.User + " " + strings.ToLower(strings.ReplaceAll(state, "_", " ")) + " for " + c.Team
	var rooms []string
	for i := range s.hooks {
		h := &s.hooks[i]
		if h.event != event && h.event != AnyOnCall {
			continue
		}
		ok, err := h.enqueue(q, vars, adapters.Message{Title: who})
		if err != nil {
			return nil, err
		}
		if ok {
			rooms = append(rooms, Room(h.Name))
		}
	}
	return rooms, nil
}

// enqueue renders h and enqueues its request, unless a template names an
// unset field or a value cannot be sent; it reports whether it did.
func (h *hook) enqueue(q Writer, vars *routing.Vars, msg adapters.Message) (bool, error) {
	req, missing, refused := h.render(vars)
	if len(missing) > 0 || refused != "" {
		return false, nil
	}
	payload, err := json.Marshal(req)
	if err != nil {
		return false, fmt.Errorf("webhook %s: encode request: %w", h.Name, err)
	}
	msg.Payload = payload
	msg.Text = fmt.Sprintf("webhook %s (%s): %s %s", h.Name, h.event, req.Method, shownURL(req.URL))
	if err := q.Enqueue(Room(h.Name), outbox.Item{Op: adapters.OpPost, NoDigest: true, Msg: msg}); err != nil {
		return false, fmt.Errorf("webhook %s: %w", h.Name, err)
	}
	return true, nil
}

// alertCount is how many alerts (CRITICAL or WARNING: triggered, updated,
// repeated) incident id has had, ev included (it is stored after dispatch).
func alertCount(tx *bolt.Tx, id uint64, ev *timeline.Event) int {
	n := 0
	if isAlert(ev.Kind) {
		n++
	}
	prefix := storage.U64(id)
	c := tx.Bucket(storage.BucketEvents).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if len(k) == 16 && storage.ParseU64(k[8:]) == ev.ID {
			continue
		}
		var e struct {
			Kind timeline.Kind `json:"kind"`
		}
		if json.Unmarshal(v, &e) == nil && isAlert(e.Kind) {
			n++
		}
	}
	return n
}

func isAlert(k timeline.Kind) bool {
	return k == timeline.KindTriggered || k == timeline.KindUpdated || k == timeline.KindRepeated
}
