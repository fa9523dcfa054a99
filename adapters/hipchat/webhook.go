package hipchat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/httpjson"
	"github.com/sitrep/sitrep/secret"
)

// Webhook is HipChat's room_message webhook body. Fields sitrep does not read
// are left out.
type Webhook struct {
	Event string `json:"event"`
	Item  struct {
		Message struct {
			ID      string          `json:"id"`
			Date    string          `json:"date"`
			Message *string         `json:"message"`
			From    json.RawMessage `json:"from"` // a user object, or a plain string for notifications
		} `json:"message"`
		Room struct {
			ID   json.RawMessage `json:"id"` // a number in HipChat; a string is accepted
			Name string          `json:"name"`
		} `json:"room"`
	} `json:"item"`
	OAuthClientID string          `json:"oauth_client_id"`
	WebhookID     json.RawMessage `json:"webhook_id"`
}

// WebhookUser is the sender of a room_message from a person.
type WebhookUser struct {
	ID          json.RawMessage `json:"id"`
	MentionName string          `json:"mention_name"`
	Name        string          `json:"name"`
}

// FieldError is a webhook body sitrep cannot use, naming the field at fault.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// errIgnore marks a webhook that is valid but not for sitrep (its own
// notifications, other events).
var errIgnore = errors.New("ignored")

// ParseWebhook decodes a room_message webhook into an Inbound. It returns a
// *FieldError for a body that is not one, and errIgnore (reported by
// IsIgnored) for a message sitrep must not handle: a notification (its own
// echo included) rather than a person's message, or another event.
func ParseWebhook(body []byte) (adapters.Inbound, error) {
	var w Webhook
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&w); err != nil {
		return adapters.Inbound{}, jsonFieldError(err)
	}
	if dec.More() {
		return adapters.Inbound{}, &FieldError{Field: "body", Msg: "more than one JSON value"}
	}
	switch w.Event {
	case "":
		return adapters.Inbound{}, &FieldError{Field: "event", Msg: "required"}
	case "room_message":
	default:
		return adapters.Inbound{}, errIgnore
	}
	m := w.Item.Message
	roomID, err := idString(w.Item.Room.ID)
	if err != nil {
		return adapters.Inbound{}, &FieldError{Field: "item.room.id", Msg: err.Error()}
	}
	if m.Message == nil {
		return adapters.Inbound{}, &FieldError{Field: "item.message.message", Msg: "required"}
	}
	from := bytes.TrimSpace(m.From)
	if len(from) == 0 || bytes.Equal(from, []byte("null")) {
		return adapters.Inbound{}, &FieldError{Field: "item.message.from", Msg: "required"}
	}
	if from[0] == '"' {
		// A notification (HipChat gives its "from" label as a string): an
		// integration's message, sitrep's own included, never a person's.
		return adapters.Inbound{}, errIgnore
	}
	var u WebhookUser
	if err := json.Unmarshal(from, &u); err != nil {
		return adapters.Inbound{}, &FieldError{Field: "item.message.from", Msg: "must be a user object"}
	}
	user := strings.TrimSpace(u.MentionName)
	if user == "" {
		user = strings.TrimSpace(u.Name)
	}
	if user == "" {
		return adapters.Inbound{}, &FieldError{Field: "item.message.from.mention_name", Msg: "required (or name)"}
	}
	if strings.EqualFold(user, From) || strings.EqualFold(strings.TrimSpace(u.Name), From) {
		return adapters.Inbound{}, errIgnore
	}
	at := time.Now().UTC()
	if m.Date != "" {
		t, err := time.Parse(time.RFC3339Nano, m.Date)
		if err != nil {
			return adapters.Inbound{}, &FieldError{Field: "item.message.date", Msg: "not an RFC 3339 time"}
		}
		at = t
	}
	in := adapters.Inbound{
		Platform:  Platform,
		RoomID:    roomID,
		User:      user,
		Text:      *m.Message,
		MessageID: m.ID,
		Time:      at,
	}
	if m.ID != "" { // HipChat retries a webhook it got no answer to: apply it once
		in.Key = roomID + ":" + m.ID
	}
	return in, nil
}

// IsIgnored reports whether ParseWebhook's error means "valid, not for sitrep".
func IsIgnored(err error) bool { return errors.Is(err, errIgnore) }

// idString accepts a room ID given as a JSON number or string.
func idString(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "", errors.New("required")
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", errors.New("must be a number or string")
		}
		if strings.TrimSpace(s) == "" {
			return "", errors.New("required")
		}
		return s, nil
	}
	n, err := strconv.ParseUint(string(raw), 10, 64)
	if err != nil {
		return "", errors.New("must be a non-negative integer or string")
	}
	return strconv.FormatUint(n, 10), nil
}

func jsonFieldError(err error) *FieldError {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return &FieldError{Field: te.Field, Msg: "must be a " + te.Type.String()}
	}
	return &FieldError{Field: "body", Msg: "not valid JSON"}
}

// Register serves HipChat's room_message webhook at POST path. Each person's
// message goes to the Handler; a non-empty reply is the response body,
// {"message": reply, "message_format": "text"}, which HipChat shows in the room.
func (c *Client) Register(mux *http.ServeMux, path string) {
	mux.HandleFunc("POST "+path, c.serveWebhook)
}

func (c *Client) serveWebhook(w http.ResponseWriter, r *http.Request) {
	token, signed := SignedRequest(r)
	if !signed && !c.webhookAuthorized(r) {
		c.refuse(w, r, &AuthError{Field: "authorization", Msg: "missing or wrong token, or no signed request"})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxWebhookBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			httpjson.Error(w, http.StatusRequestEntityTooLarge, "", "body larger than "+strconv.Itoa(MaxWebhookBody)+" bytes")
			return
		}
		httpjson.Error(w, http.StatusBadRequest, "", "could not read body")
		return
	}
	var in adapters.Inbound
	if signed {
		in, err = c.VerifyWebhook(r.Context(), token, body)
	} else {
		in, err = ParseWebhook(body)
	}
	var fe *FieldError
	var ae *AuthError
	switch {
	case IsIgnored(err):
		w.WriteHeader(http.StatusNoContent)
		return
	case errors.As(err, &ae):
		c.refuse(w, r, ae)
		return
	case errors.As(err, &fe):
		httpjson.Error(w, http.StatusBadRequest, fe.Field, fe.Error())
		return
	case err != nil:
		c.log.Error("hipchat webhook failed", "err", err)
		httpjson.Error(w, http.StatusInternalServerError, "", "internal error")
		return
	}
	if c.known != nil && !c.known(in.RoomID) {
		c.log.Warn("hipchat webhook refused: not a sitrep room", "hipchat_room", in.RoomID, "remote", r.RemoteAddr)
		httpjson.Error(w, http.StatusForbidden, "item.room.id", "HipChat room "+in.RoomID+" is not a sitrep room and no add-on install maps it to one")
		return
	}
	if c.handler == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	// Not cut short if HipChat hangs up: the inbox has stored the message
	// (and its dedupe key, so HipChat's retry is dropped), so it must be
	// handled now, not only at the next start. The inbox bounds the call.
	r2, err := c.handler(context.WithoutCancel(r.Context()), in)
	reply := r2.Text
	if err != nil {
		c.log.Error("hipchat inbound message failed", "room", in.RoomID, "message", in.MessageID, "err", err)
		httpjson.Error(w, http.StatusInternalServerError, "", "internal error")
		return
	}
	if strings.TrimSpace(reply) == "" {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if utf8Len := len([]rune(reply)); utf8Len > MaxMessage {
		reply = string([]rune(reply)[:MaxMessage-1]) + truncMarker
	}
	httpjson.Write(w, http.StatusOK, map[string]string{"message": reply, "message_format": "text"})
}

// refuse answers 401 for a webhook whose credentials fail, and logs why:
// the field and reason only, never the token or a secret.
func (c *Client) refuse(w http.ResponseWriter, r *http.Request, e *AuthError) {
	c.log.Warn("hipchat webhook refused", "field", e.Field, "reason", e.Msg, "remote", r.RemoteAddr)
	httpjson.Error(w, http.StatusUnauthorized, e.Field, e.Msg)
}

// webhookAuthorized checks an unsigned webhook: it needs the webhook token
// when one is set; with none set it passes only when no add-on install is
// possible either (a Client used on its own).
func (c *Client) webhookAuthorized(r *http.Request) bool {
	if c.webhookToken == "" {
		return c.installs == nil
	}
	if secret.Equal(r.URL.Query().Get("token"), c.webhookToken) {
		return true
	}
	tok, ok := secret.Bearer(r)
	return ok && secret.Equal(tok, c.webhookToken)
}
