// Package adapters is the contract between sitrep and a chat platform. sitrep
// hands an adapter one Delivery at a time (post a message, reply under an
// incident's card, update that card), always from the durable outbox, and an
// adapter hands sitrep what responders typed or pressed as an Inbound, whose
// Reply it delivers in the platform's own way. Each adapter declares what its
// platform can do as Capabilities; sitrep branches on those, never on a
// platform's name. Each platform lives in its own sub-package and only
// translates.
package adapters

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sitrep/sitrep/timeline"
)

// Room is the part of a sitrep room an adapter needs to reach it.
type Room struct {
	Name  string // sitrep's name for the room
	ID    string // the platform's room or channel ID
	Token string // per-room credential, where the platform has one (HipChat)
}

// KindDigest is the Message.Kind of a message that collapses a room's backlog
// (see Message.Digest); every other message carries a timeline.Kind.
const KindDigest timeline.Kind = "digest"

// Verb is an action a responder can take on an incident with one press.
type Verb string

// Verbs an incident's card offers as buttons, where the platform has them.
const (
	VerbAck     Verb = "ack"
	VerbResolve Verb = "resolve"
)

// Message is a platform-neutral chat message about an incident event.
// Adapters render it in their own format (HTML, Block Kit, an embed).
type Message struct {
	IncidentID uint64            `json:"incident_id,omitempty"`
	EventID    uint64            `json:"event_id,omitempty"`
	Kind       timeline.Kind     `json:"kind,omitempty"`  // timeline event kind, or KindDigest
	State      timeline.State    `json:"state,omitempty"` // incident state after the event
	Title      string            `json:"title,omitempty"`
	Text       string            `json:"text"`
	Color      string            `json:"color,omitempty"` // red, yellow, green, purple, gray (HipChat's palette)
	User       string            `json:"user,omitempty"`
	Fields     map[string]string `json:"fields,omitempty"`
	Actions    []Verb            `json:"actions,omitempty"` // buttons to offer, for platforms with Capabilities.Buttons
	Digest     []Message         `json:"digest,omitempty"`  // for KindDigest: the messages it collapses, oldest first
	// Payload is a request body rendered when the event was recorded, for a
	// destination that takes one verbatim (a status page's hook): compact
	// JSON, as json.Marshal makes it. Chat platforms ignore it.
	Payload json.RawMessage `json:"payload,omitempty"`
	// Mentions maps a name in Text to the person's user ID on the room's
	// platform: a platform that can mention (Slack, Discord) turns that
	// name into a mention of them; the others show the plain name.
	Mentions map[string]string `json:"mentions,omitempty"`
}

// Op is what a Delivery asks of the platform.
type Op uint8

// Operations.
const (
	// OpPost posts Msg as a new message in the room.
	OpPost Op = iota
	// OpReply posts Msg under the message Ref (the incident's card), in its
	// thread; only platforms with Capabilities.Threads get it.
	OpReply
	// OpUpdate replaces the message Ref (the incident's card) with Msg; only
	// platforms with Capabilities.Edit get it.
	OpUpdate
)

func (o Op) String() string {
	switch o {
	case OpPost:
		return "post"
	case OpReply:
		return "reply"
	case OpUpdate:
		return "update"
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// Delivery is one side effect on a platform, as the outbox hands it over.
type Delivery struct {
	Room Room
	Op   Op
	// Ref is the platform's ID of the incident's card in this room: the
	// parent of an OpReply, the message an OpUpdate replaces. Never empty for
	// those two.
	Ref string
	Msg Message
	// Key is unique to the outbox entry and the same on every retry of it: a
	// platform that takes an idempotency key or nonce gets it, so a retry
	// after a crash cannot post twice.
	Key string
}

// Capabilities say what a platform can do; sitrep's fan-out and the
// conformance suite branch on them.
type Capabilities struct {
	Edit           bool // OpUpdate replaces a posted message in place
	Threads        bool // OpReply posts under a message, in its thread
	Buttons        bool // Message.Actions are shown as buttons whose presses come back as Inbound actions
	PrivateReplies bool // a Reply with Private set is shown to its sender only
}

// Chat is a chat platform. Implementations must be safe for concurrent use.
type Chat interface {
	// Platform names the platform, as rooms name it.
	Platform() string
	// Capabilities says what the platform can do.
	Capabilities() Capabilities
	// Deliver carries out d and returns the platform's ID for the message it
	// posted (for OpUpdate, the ID of the message it now shows, usually d.Ref).
	Deliver(ctx context.Context, d Delivery) (string, error)
}

// Action is a button a responder pressed: a verb on an incident.
type Action struct {
	Verb       Verb   `json:"verb"`
	IncidentID uint64 `json:"incident_id"`
}

// Inbound is a message or an action a responder sent from a room.
type Inbound struct {
	Platform string `json:"platform"`
	RoomID   string `json:"room_id"` // the platform's room ID; sitrep maps it to its room
	User     string `json:"user,omitempty"`
	// UserID is the platform's ID of the sender where the platform vouches
	// for it (Slack's and Discord's user IDs, the sender of a signed
	// HipChat request, a web-room user named by their key); empty where the
	// name is only what the sender says it is.
	UserID string `json:"user_id,omitempty"`
	// Unverified means the platform did not vouch for User: the sender chose
	// it (a web room's self-declared name). The timeline's origin says so.
	Unverified bool `json:"unverified,omitempty"`
	// Text is what the responder typed; for a platform's own slash command,
	// the text after the command.
	Text string `json:"text,omitempty"`
	// Command is the slash command a platform delivered on its own ("incident"
	// for Slack's /incident), without the slash; empty for typed text, which
	// may still hold a command ("/ack 42").
	Command string `json:"command,omitempty"`
	// Action is set for a button press; Text is then empty.
	Action *Action `json:"action,omitempty"`
	// MessageID is the platform's ID of the message typed, or of the one
	// whose button was pressed.
	MessageID string `json:"message_id,omitempty"`
	// Key is the platform's dedupe key for this delivery (an event ID, an
	// interaction ID): the same on the platform's retries of it, so sitrep
	// applies it once. Empty means the adapter guarantees no repeats.
	Key  string    `json:"key,omitempty"`
	Time time.Time `json:"time,omitzero"`
}

// Reply is sitrep's answer to an Inbound, delivered by the adapter in its own
// way: in the HTTP response, through a response URL, as a follow-up. It is
// not put on any timeline; a state change it reports reaches every room
// through the outbox as well.
type Reply struct {
	Text string
	// Private asks that only the sender see it, where the platform can
	// (Capabilities.PrivateReplies); elsewhere it is shown to the sender as
	// the platform allows.
	Private bool
	// Replace asks that it replace the message whose button was pressed,
	// where the platform can.
	Replace bool
	// Quiet marks a confirmation worth showing only to its sender: where the
	// platform has no private replies, it is not shown at all.
	Quiet bool
}

// Empty reports whether there is nothing to say.
func (r Reply) Empty() bool { return r.Text == "" }

// Handler takes inbound messages and actions.
type Handler func(ctx context.Context, in Inbound) (Reply, error)

// RetryAfterError means the platform asked sitrep to slow down (HTTP 429).
type RetryAfterError struct {
	After time.Duration
	Err   error
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("rate limited, retry after %s: %v", e.After, e.Err)
}

func (e *RetryAfterError) Unwrap() error { return e.Err }

// PermanentError means retrying cannot help (bad token, unknown room, payload rejected).
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return "permanent: " + e.Err.Error() }

func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent marks err as not worth retrying.
func Permanent(err error) error { return &PermanentError{Err: err} }

// IsPermanent reports whether err was marked Permanent.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// RetryAfter returns the wait a platform asked for, if err carries one.
func RetryAfter(err error) (time.Duration, bool) {
	var r *RetryAfterError
	if errors.As(err, &r) {
		return r.After, true
	}
	return 0, false
}
