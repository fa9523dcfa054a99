package hipchatapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"math/rand/v2"
	"strings"
	"time"
	"unicode/utf8"
)

// HipChat's limits on a room notification.
const (
	MaxMessage = 10000 // characters of message
	MaxFrom    = 64    // characters of from
)

// palette is the background colors HipChat took besides "random", which
// picks one of them.
func palette() [5]string { return [5]string{"yellow", "green", "red", "purple", "gray"} }

// Notice is one validated room notification, as a Sink gets it.
type Notice struct {
	// Text is the message as plain text: for message_format html, with the
	// tags removed and the entities decoded.
	Text string
	// HTML is the message as HTML safe to show: for html, sanitised to the
	// tags HipChat allowed; for text, escaped.
	HTML string
	// Format is the message_format sent: "html" or "text".
	Format string
	// Color is yellow, green, red, purple or gray ("random" is resolved).
	Color  string
	Notify bool
	// From is the label shown next to the sender's name; may be empty.
	From string
	// Card is the card sent with the message, if one was: its text only.
	Card *Card
	// Time is when sitrep took the notice in.
	Time time.Time
}

// Card is the text of a HipChat card.
type Card struct {
	Title       string
	Description string
}

// validationError is a 400 naming the field at fault and the check it failed,
// as HipChat named them: "required", "length", "type" or "choice".
func validationError(field, validation, format string, args ...any) *Error {
	return &Error{Code: 400, Field: field, Validation: validation, Message: fmt.Sprintf(format, args...)}
}

// Decode validates a send_room_notification body as HipChat did and applies
// its defaults. Fields it does not know (attach_to, id, a client's own
// "token") are ignored. An error is a 400 *Error naming the field at fault.
func Decode(body []byte, now time.Time) (Notice, *Error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		return Notice{}, &Error{Code: 400, Message: "The request body cannot be parsed as a JSON object"}
	}
	n := Notice{Format: "html", Color: "yellow", Time: now}

	msg, ok, err := stringField(fields, "message")
	switch {
	case err != nil:
		return Notice{}, err
	case !ok:
		return Notice{}, validationError("message", "required", "Field message is required")
	}
	if l := utf8.RuneCountInString(msg); l < 1 || l > MaxMessage {
		return Notice{}, validationError("message", "length", "Message length must be between 1 and %d characters; it is %d", MaxMessage, l)
	}
	if format, ok, err := stringField(fields, "message_format"); err != nil {
		return Notice{}, err
	} else if ok {
		if format != "html" && format != "text" {
			return Notice{}, validationError("message_format", "choice", "Invalid message_format %q: valid values are html and text", format)
		}
		n.Format = format
	}
	if n.Format == "html" {
		n.HTML, n.Text = sanitize(msg)
	} else {
		n.Text, n.HTML = msg, html.EscapeString(msg)
	}

	if color, ok, err := stringField(fields, "color"); err != nil {
		return Notice{}, err
	} else if ok {
		switch {
		case color == "random":
			p := palette()
			n.Color = p[rand.IntN(len(p))]
		case validColor(color):
			n.Color = color
		default:
			return Notice{}, validationError("color", "choice", "Invalid color %q: valid values are yellow, green, red, purple, gray and random", color)
		}
	}
	if raw, ok := fields["notify"]; ok && !isNull(raw) {
		notify, err := boolValue(raw)
		if err != nil {
			return Notice{}, err
		}
		n.Notify = notify
	}
	if from, _, err := stringField(fields, "from"); err != nil {
		return Notice{}, err
	} else if l := utf8.RuneCountInString(from); l > MaxFrom {
		return Notice{}, validationError("from", "length", "From length must be between 0 and %d characters; it is %d", MaxFrom, l)
	} else {
		n.From = from
	}
	if raw, ok := fields["card"]; ok && !isNull(raw) {
		card, err := decodeCard(raw)
		if err != nil {
			return Notice{}, err
		}
		n.Card = card
	}
	return n, nil
}

func validColor(c string) bool {
	for _, v := range palette() {
		if c == v {
			return true
		}
	}
	return false
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// stringField returns the string field name, whether it was there (and not
// null), or a "type" error when it is not a string.
func stringField(fields map[string]json.RawMessage, name string) (string, bool, *Error) {
	raw, ok := fields[name]
	if !ok || isNull(raw) {
		return "", false, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false, validationError(name, "type", "Field %s must be a string", name)
	}
	return s, true, nil
}

// boolValue reads notify, which HipChat took as a boolean or as the string
// "true" or "false".
func boolValue(raw json.RawMessage) (bool, *Error) {
	var v any
	_ = json.Unmarshal(raw, &v)
	switch b := v.(type) {
	case bool:
		return b, nil
	case string:
		switch strings.ToLower(b) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
	}
	return false, validationError("notify", "type", "Field notify must be a boolean")
}

// decodeCard keeps a card's title and description text; HipChat's card has
// much more (style, format, attributes, thumbnail), which a chat room that is
// not HipChat cannot show.
func decodeCard(raw json.RawMessage) (*Card, *Error) {
	var c struct {
		Title       json.RawMessage `json:"title"`
		Description json.RawMessage `json:"description"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, validationError("card", "type", "Field card must be an object")
	}
	var card Card
	if len(c.Title) > 0 && !isNull(c.Title) {
		if err := json.Unmarshal(c.Title, &card.Title); err != nil {
			return nil, validationError("card.title", "type", "Field card.title must be a string")
		}
	}
	if len(c.Description) > 0 && !isNull(c.Description) {
		// A string, or {"value": "...", "format": "html"|"text"}.
		if err := json.Unmarshal(c.Description, &card.Description); err != nil {
			var d struct {
				Value  string `json:"value"`
				Format string `json:"format"`
			}
			if err := json.Unmarshal(c.Description, &d); err != nil {
				return nil, validationError("card.description", "type", "Field card.description must be a string or an object with a value")
			}
			card.Description = d.Value
			if d.Format == "html" {
				_, card.Description = sanitize(d.Value)
			}
		}
	}
	return &card, nil
}
