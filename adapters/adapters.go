// Package adapters defines what sitrep asks of a chat platform: post a
// message to a room, update one it posted, and hand inbound messages to sitrep.
// Each platform lives in its own sub-package and only translates.
package adapters

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Room is the part of a sitrep room an adapter needs to reach it.
type Room struct {
	Name  string // sitrep's name for the room
	ID    string // the platform's room or channel ID
	Token string // per-room credential, where the platform has one (HipChat)
}

// Message is a platform-neutral chat message about an incident event.
// Adapters render it in their own format.
type Message struct {
	IncidentID uint64            `json:"incident_id,omitempty"`
	EventID    uint64            `json:"event_id,omitempty"`
	Kind       string            `json:"kind,omitempty"`  // timeline event kind, or "digest"
	State      string            `json:"state,omitempty"` // incident state after the event
	Title      string            `json:"title,omitempty"`
	Text       string            `json:"text"`
	Color      string            `json:"color,omitempty"` // red, yellow, green, purple, gray (HipChat's palette)
	User       string            `json:"user,omitempty"`
	Fields     map[string]string `json:"fields,omitempty"`
	Digest     []Message         `json:"digest,omitempty"` // for Kind "digest": the messages it collapses, oldest first
}

// Chat is a chat platform. Implementations must be safe for concurrent use.
type Chat interface {
	// Platform names the platform: "webroom", "hipchat", "slack", "discord".
	Platform() string
	// Post sends msg to room and returns the platform's ID for the posted message.
	Post(ctx context.Context, room Room, msg Message) (string, error)
	// Update replaces a message Post returned with msg.
	Update(ctx context.Context, room Room, messageID string, msg Message) error
}

// CanEdit reports whether c edits a posted message in place. A Chat that
// cannot (HipChat has no edit) says so with a CanEdit() bool method; then its
// Update posts anew, and sitrep does not refresh old messages there, since
// every event reaches the room as its own message anyway.
func CanEdit(c Chat) bool {
	if e, ok := c.(interface{ CanEdit() bool }); ok {
		return e.CanEdit()
	}
	return true
}

// Inbound is a message or action a responder sent from a room.
type Inbound struct {
	Platform  string
	RoomID    string // the platform's room ID; sitrep maps it to its room
	User      string
	Text      string
	MessageID string
	Time      time.Time
}

// Handler takes inbound messages. The reply, if not empty, goes back to the
// sender only (a usage line, a confirmation); it is not put on any timeline.
type Handler func(ctx context.Context, in Inbound) (reply string, err error)

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
