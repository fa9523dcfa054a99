// Package fakechat is an in-process chat platform for tests: an
// adapters.Chat with whatever Capabilities a test gives it, which records
// what each room shows (posts, replies under their cards, updates) and every
// delivery it was handed, and whose responders can type, run slash commands
// and press buttons through a registered adapters.Handler. It can be told to
// answer deliveries with a rate limit (a RetryAfterError, HTTP 429) or a
// transient error, and to enforce a per-room rate limit of its own.
//
// It is strict where a real platform would be surprised: a delivery it does
// not claim the capability for (an OpReply without Threads, an OpUpdate
// without Edit) is refused as a permanent error, as is a Ref it never gave
// for the room, so a test sees sitrep break the contract.
//
// Descriptor makes it a sitrep platform, so a test adds it to sitrep's list
// of platforms as one more descriptor.
package fakechat

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/config"
	"github.com/sitrep/sitrep/platform"
)

// ErrTransient is the error FailNext injects when given none.
var ErrTransient = errors.New("fakechat: injected transient failure")

// ErrNotFound means a Ref, or a pressed message, is not one the room shows.
var ErrNotFound = errors.New("fakechat: no such message")

// Message is one message a room shows, as sitrep last delivered it.
type Message struct {
	ID string
	// Parent is the card this message is a reply under (OpReply); empty for
	// a message in the room itself.
	Parent string
	// Msg is what the message now shows: what was posted, or the last update.
	Msg adapters.Message
	// Actions are the buttons it shows: Msg.Actions where the platform has
	// Buttons, else none.
	Actions []adapters.Verb
	// Key is the Delivery.Key of the delivery that posted it.
	Key string
	// Updates is how many OpUpdates replaced it; UpdateKeys are their Keys,
	// oldest first.
	Updates    int
	UpdateKeys []string
	PostedAt   time.Time
	UpdatedAt  time.Time // zero until updated
}

// Delivery is one Deliver call, as the fake took it.
type Delivery struct {
	adapters.Delivery
	At  time.Time
	ID  string // what Deliver returned
	Err error  // what Deliver returned; nil when it was delivered
}

// Reply is a Reply the Handler gave a responder, as the platform showed it.
type Reply struct {
	adapters.Reply
	RoomID string
	// To is the responder who sent the Inbound it answers.
	To string
	// InReplyTo is the Inbound's MessageID: the typed line or the message
	// whose button was pressed.
	InReplyTo string
	// Private is true when only To was shown it: Reply.Private on a
	// platform with PrivateReplies.
	Private bool
}

// Chat is the fake platform. It is safe for concurrent use.
type Chat struct {
	name string
	caps adapters.Capabilities
	now  func() time.Time

	mu         sync.Mutex
	handler    adapters.Handler
	next       int
	rooms      map[string][]*Message // by room ID, oldest first
	deliveries map[string][]Delivery
	replies    []Reply
	fails      []error // answers for the next deliveries, in turn
	limit      int
	per        time.Duration
	window     map[string][]time.Time // delivered within per, by room
}

var _ adapters.Chat = (*Chat)(nil)

// New returns a platform named name (the name rooms give it) with caps.
func New(name string, caps adapters.Capabilities) *Chat {
	return &Chat{
		name:       name,
		caps:       caps,
		now:        time.Now,
		rooms:      map[string][]*Message{},
		deliveries: map[string][]Delivery{},
		window:     map[string][]time.Time{},
	}
}

// Platform returns the name New was given.
func (c *Chat) Platform() string { return c.name }

// Capabilities returns the capabilities New was given.
func (c *Chat) Capabilities() adapters.Capabilities { return c.caps }

// SetHandler registers the Handler that Say, Command and Press call (in
// sitrep, the inbox's Receive).
func (c *Chat) SetHandler(h adapters.Handler) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.handler = h
}

// Descriptor is the fake as a sitrep platform named c.Platform(), with
// limit as its default rate limit: its Build returns c and registers the
// inbox's Receive as c's Handler.
func (c *Chat) Descriptor(limit platform.Limit) platform.Descriptor {
	return platform.Descriptor{
		Platform: config.Platform{Name: c.name, Limit: limit},
		Build: func(env platform.Env) (platform.Built, error) {
			if env.Inbox != nil {
				c.SetHandler(env.Inbox.Receive)
			}
			return platform.Built{Chat: c}, nil
		},
	}
}

// RateLimitNext makes the next n deliveries fail with a RetryAfterError
// asking to wait after, as a platform's HTTP 429 does. Nothing is shown.
func (c *Chat) RateLimitNext(n int, after time.Duration) {
	c.failNext(n, func() error {
		return &adapters.RetryAfterError{After: after, Err: errors.New("fakechat: 429 Too Many Requests")}
	})
}

// FailNext makes the next n deliveries fail with err (ErrTransient if err
// is nil). Nothing is shown.
func (c *Chat) FailNext(n int, err error) {
	if err == nil {
		err = ErrTransient
	}
	c.failNext(n, func() error { return err })
}

func (c *Chat) failNext(n int, mk func() error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for range n {
		c.fails = append(c.fails, mk())
	}
}

// SetLimit lets each room take at most perRoom deliveries in any window of
// length per; beyond it Deliver answers a RetryAfterError for the time until
// the window has room again. perRoom <= 0 turns the limit off.
func (c *Chat) SetLimit(perRoom int, per time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.limit, c.per = perRoom, per
	c.window = map[string][]time.Time{}
}

// Deliver carries out d: OpPost adds a message to the room, OpReply adds one
// under d.Ref (Threads only), OpUpdate replaces d.Ref in place (Edit only).
// Each call is recorded (see Deliveries), even one that fails.
func (c *Chat) Deliver(ctx context.Context, d adapters.Delivery) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	id, err := c.deliver(ctx, d, now)
	if err != nil {
		err = fmt.Errorf("fakechat %s: %s to room %q: %w", c.name, d.Op, d.Room.ID, err)
		id = ""
	}
	c.deliveries[d.Room.ID] = append(c.deliveries[d.Room.ID], Delivery{Delivery: d, At: now, ID: id, Err: err})
	return id, err
}

func (c *Chat) deliver(ctx context.Context, d adapters.Delivery, now time.Time) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if len(c.fails) > 0 {
		err := c.fails[0]
		c.fails = c.fails[1:]
		return "", err
	}
	if d.Room.ID == "" {
		return "", adapters.Permanent(errors.New("the room has no ID"))
	}
	var ref *Message
	switch d.Op {
	case adapters.OpPost:
	case adapters.OpReply, adapters.OpUpdate:
		if d.Op == adapters.OpReply && !c.caps.Threads {
			return "", adapters.Permanent(errors.New("the platform has no threads"))
		}
		if d.Op == adapters.OpUpdate && !c.caps.Edit {
			return "", adapters.Permanent(errors.New("the platform cannot edit"))
		}
		if ref = c.find(d.Room.ID, d.Ref); ref == nil {
			return "", adapters.Permanent(fmt.Errorf("ref %q: %w", d.Ref, ErrNotFound))
		}
	default:
		return "", adapters.Permanent(fmt.Errorf("unknown op %s", d.Op))
	}
	if wait, ok := c.limited(d.Room.ID, now); !ok {
		return "", &adapters.RetryAfterError{After: wait, Err: errors.New("fakechat: room rate limit")}
	}
	if d.Op == adapters.OpUpdate {
		ref.Msg, ref.Actions = d.Msg, c.buttons(d.Msg)
		ref.Updates++
		ref.UpdateKeys = append(ref.UpdateKeys, d.Key)
		ref.UpdatedAt = now
		return ref.ID, nil
	}
	c.next++
	m := &Message{ID: strconv.Itoa(c.next), Msg: d.Msg, Actions: c.buttons(d.Msg), Key: d.Key, PostedAt: now}
	if ref != nil {
		m.Parent = ref.ID
	}
	c.rooms[d.Room.ID] = append(c.rooms[d.Room.ID], m)
	return m.ID, nil
}

// limited counts a delivery to room at now against the rate limit; false
// means it is over, with the wait until it is not.
func (c *Chat) limited(room string, now time.Time) (time.Duration, bool) {
	if c.limit <= 0 {
		return 0, true
	}
	kept := c.window[room][:0]
	for _, at := range c.window[room] {
		if now.Sub(at) < c.per {
			kept = append(kept, at)
		}
	}
	c.window[room] = kept
	if len(kept) >= c.limit {
		return kept[0].Add(c.per).Sub(now), false
	}
	c.window[room] = append(kept, now)
	return 0, true
}

func (c *Chat) buttons(m adapters.Message) []adapters.Verb {
	if !c.caps.Buttons || len(m.Actions) == 0 {
		return nil
	}
	return slices.Clone(m.Actions)
}

func (c *Chat) find(room, id string) *Message {
	for _, m := range c.rooms[room] {
		if m.ID == id {
			return m
		}
	}
	return nil
}

// Shown returns what room shows, oldest first: every message sitrep posted
// or replied, with its current content. Lines responders typed are not in
// it.
func (c *Chat) Shown(roomID string) []Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Message, len(c.rooms[roomID]))
	for i, m := range c.rooms[roomID] {
		out[i] = *m
		out[i].Actions = slices.Clone(m.Actions)
		out[i].UpdateKeys = slices.Clone(m.UpdateKeys)
	}
	return out
}

// Message returns the message id in room.
func (c *Chat) Message(roomID, id string) (Message, bool) {
	for _, m := range c.Shown(roomID) {
		if m.ID == id {
			return m, true
		}
	}
	return Message{}, false
}

// Deliveries returns every Deliver call for room, oldest first, failed ones
// included (with Err set), each with the time it was made.
func (c *Chat) Deliveries(roomID string) []Delivery {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.deliveries[roomID])
}

// Count is how many deliveries room took (Deliver calls that succeeded).
func (c *Chat) Count(roomID string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, d := range c.deliveries[roomID] {
		if d.Err == nil {
			n++
		}
	}
	return n
}

// Replies returns the replies room showed user, oldest first: those to
// user's own Inbounds, and those to anyone's that were not private.
func (c *Chat) Replies(roomID, user string) []Reply {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Reply
	for _, r := range c.replies {
		if r.RoomID == roomID && (r.To == user || !r.Private) {
			out = append(out, r)
		}
	}
	return out
}

// Say makes user type text in room and returns the Handler's Reply.
func (c *Chat) Say(ctx context.Context, roomID, user, text string) (adapters.Reply, error) {
	return c.receive(ctx, adapters.Inbound{RoomID: roomID, User: user, Text: text})
}

// Command makes user run the platform's slash command (command, without the
// slash) with text in room, and returns the Handler's Reply.
func (c *Chat) Command(ctx context.Context, roomID, user, command, text string) (adapters.Reply, error) {
	return c.receive(ctx, adapters.Inbound{RoomID: roomID, User: user, Command: command, Text: text})
}

// Press makes user press the button for verb on message messageID in room,
// and returns the Handler's Reply. The platform must have Buttons and the
// message must show that button.
func (c *Chat) Press(ctx context.Context, roomID, user, messageID string, verb adapters.Verb) (adapters.Reply, error) {
	if !c.caps.Buttons {
		return adapters.Reply{}, fmt.Errorf("fakechat %s: press %s: the platform has no buttons", c.name, verb)
	}
	m, ok := c.Message(roomID, messageID)
	if !ok {
		return adapters.Reply{}, fmt.Errorf("fakechat %s: press %s on %q: %w", c.name, verb, messageID, ErrNotFound)
	}
	if !slices.Contains(m.Actions, verb) {
		return adapters.Reply{}, fmt.Errorf("fakechat %s: message %q shows no %s button (it shows %v)", c.name, messageID, verb, m.Actions)
	}
	return c.receive(ctx, adapters.Inbound{
		RoomID:    roomID,
		User:      user,
		MessageID: messageID,
		Action:    &adapters.Action{Verb: verb, IncidentID: m.Msg.IncidentID},
	})
}

// receive completes in, hands it to the Handler and shows the Reply.
func (c *Chat) receive(ctx context.Context, in adapters.Inbound) (adapters.Reply, error) {
	c.mu.Lock()
	h := c.handler
	c.next++
	n := c.next
	c.mu.Unlock()
	if h == nil {
		return adapters.Reply{}, fmt.Errorf("fakechat %s: no Handler registered", c.name)
	}
	in.Platform = c.name
	in.Key = "in-" + strconv.Itoa(n)
	if in.MessageID == "" {
		in.MessageID = in.Key
	}
	in.Time = c.now().UTC()
	reply, err := h(ctx, in)
	if err != nil {
		return reply, fmt.Errorf("fakechat %s: handler: %w", c.name, err)
	}
	if !reply.Empty() {
		c.mu.Lock()
		c.replies = append(c.replies, Reply{
			Reply:     reply,
			RoomID:    in.RoomID,
			To:        in.User,
			InReplyTo: in.MessageID,
			Private:   reply.Private && c.caps.PrivateReplies,
		})
		c.mu.Unlock()
	}
	return reply, nil
}
