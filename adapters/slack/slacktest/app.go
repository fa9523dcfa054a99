package slacktest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gorilla/websocket"
	"github.com/slack-go/slack"
)

// Press is user (a display name, see AddUser) pressing the button actionID
// carrying value on message ts in channel.
func (s *Server) Press(ctx context.Context, ch, user, ts, actionID, value string) (Reply, error) {
	s.mu.Lock()
	trigger := s.nextTS()
	s.mu.Unlock()
	cb := slack.InteractionCallback{
		Type:        slack.InteractionTypeBlockActions,
		TriggerID:   "trigger-" + trigger,
		ResponseURL: s.ResponseURL(ch, UserID(user)),
		Channel:     slack.Channel{GroupConversation: slack.GroupConversation{Conversation: slack.Conversation{ID: ch}}},
		User:        slack.User{ID: UserID(user), Name: user},
		Message:     slack.Message{Msg: slack.Msg{Timestamp: ts}},
		Container:   slack.Container{Type: "message", MessageTs: ts, ChannelID: ch},
		ActionCallback: slack.ActionCallbacks{BlockActions: []*slack.BlockAction{{
			ActionID: actionID, BlockID: "sitrep_actions", Type: "button", Value: value, ActionTs: trigger,
		}}},
	}
	raw, err := json.Marshal(cb)
	if err != nil {
		return Reply{}, fmt.Errorf("encode interaction: %w", err)
	}
	form := url.Values{"payload": {string(raw)}}
	return s.deliver(ctx, "interactive", "/slack/interactions", "application/x-www-form-urlencoded", []byte(form.Encode()), json.RawMessage(raw))
}

// Command is user typing a slash command (such as "/sitrep") with text in channel.
func (s *Server) Command(ctx context.Context, ch, user, command, text string) (Reply, error) {
	s.mu.Lock()
	trigger := s.nextTS()
	s.mu.Unlock()
	cmd := slack.SlashCommand{
		ChannelID: ch, UserID: UserID(user), UserName: user, Command: command, Text: text,
		ResponseURL: s.ResponseURL(ch, UserID(user)), TriggerID: "trigger-" + trigger,
	}
	form := url.Values{
		"channel_id": {cmd.ChannelID}, "user_id": {cmd.UserID}, "user_name": {cmd.UserName}, "command": {cmd.Command},
		"text": {cmd.Text}, "response_url": {cmd.ResponseURL}, "trigger_id": {cmd.TriggerID},
	}
	return s.deliver(ctx, "slash_commands", "/slack/commands", "application/x-www-form-urlencoded", []byte(form.Encode()), cmd)
}

// MessageEvent is a message event as the Events API sends it.
type MessageEvent struct {
	Type     string `json:"type"`
	Subtype  string `json:"subtype,omitempty"`
	Channel  string `json:"channel"`
	User     string `json:"user,omitempty"`
	BotID    string `json:"bot_id,omitempty"`
	Text     string `json:"text"`
	TS       string `json:"ts"`
	ThreadTS string `json:"thread_ts,omitempty"`
}

// Event is the Events API's outer event_callback around ev, returned with
// its event_id.
func (s *Server) Event(ev any) (body []byte, eventID string) {
	s.mu.Lock()
	eventID = "Ev" + s.nextTS()
	s.mu.Unlock()
	raw, err := json.Marshal(map[string]any{
		"type": "event_callback", "team_id": "T0TEST", "api_app_id": "A0SITREP", "event_id": eventID,
		"event_time": time.Now().Unix(), "event": ev,
	})
	if err != nil {
		panic(err) // a map of strings and a caller's struct
	}
	return raw, eventID
}

// Say is user typing text in channel (under thread, if not empty): the
// message shows in the channel and its event reaches the app. It returns the
// message's ts.
func (s *Server) Say(ctx context.Context, ch, user, text, thread string) (string, Reply, error) {
	s.mu.Lock()
	ts := s.nextTS()
	if c := s.channels[ch]; c != nil {
		c.msgs = append(c.msgs, &Message{TS: ts, Channel: ch, Text: text, ThreadTS: thread, At: time.Now()})
	}
	s.mu.Unlock()
	body, _ := s.Event(MessageEvent{Type: "message", Channel: ch, User: UserID(user), Text: text, TS: ts, ThreadTS: thread})
	r, err := s.SendEvent(ctx, body, nil)
	return ts, r, err
}

// SendEvent delivers an Events API body as Slack would, with extra headers
// over HTTP (X-Slack-Retry-Num on a retry).
func (s *Server) SendEvent(ctx context.Context, body []byte, extra http.Header) (Reply, error) {
	s.mu.Lock()
	open := len(s.sockets) > 0
	base, secret := s.appURL, s.secret
	s.mu.Unlock()
	if open {
		return s.sendSocket(ctx, "events_api", json.RawMessage(body))
	}
	if base == "" {
		return Reply{}, ErrNoApp
	}
	return Post(ctx, base+"/slack/events", "application/json", secret, time.Now(), body, extra)
}

// openConnection is apps.connections.open: an app-level token gets the
// fake's socket URL.
func (s *Server) openConnection(w http.ResponseWriter, r *http.Request) {
	switch bearer(r) {
	case AppToken:
	case "":
		answer(w, "not_authed")
		return
	default:
		answer(w, "invalid_auth")
		return
	}
	s.mu.Lock()
	s.socketOpen++
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "url": "ws" + s.srv.URL[len("http"):] + "/socket"})
}

var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

// socket serves a Socket Mode connection: hello, pings, and acks read back.
func (s *Server) socket(w http.ResponseWriter, r *http.Request) {
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	var writeMu = &s.mu // writes happen under s.mu
	writeMu.Lock()
	err = conn.WriteJSON(map[string]any{"type": "hello", "num_connections": 1, "connection_info": map[string]any{"app_id": "A0SITREP"}})
	if err == nil {
		s.sockets = append(s.sockets, conn)
	}
	writeMu.Unlock()
	if err != nil {
		_ = conn.Close()
		return
	}
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				s.mu.Lock()
				err := conn.WriteControl(websocket.PingMessage, []byte("ping"), time.Now().Add(time.Second))
				s.mu.Unlock()
				if err != nil {
					return
				}
			}
		}
	}()
	defer close(done)
	defer s.forget(conn)
	for {
		var ack struct {
			EnvelopeID string          `json:"envelope_id"`
			Payload    json.RawMessage `json:"payload"`
		}
		if err := conn.ReadJSON(&ack); err != nil {
			return
		}
		s.mu.Lock()
		ch := s.acks[ack.EnvelopeID]
		delete(s.acks, ack.EnvelopeID)
		s.mu.Unlock()
		if ch != nil {
			ch <- ack.Payload
		}
	}
}

func (s *Server) forget(conn *websocket.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, c := range s.sockets {
		if c == conn {
			s.sockets = append(s.sockets[:i], s.sockets[i+1:]...)
			break
		}
	}
	_ = conn.Close()
}

// SocketOpen reports whether the app has a Socket Mode connection open.
func (s *Server) SocketOpen() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sockets) > 0
}

// DropSockets closes every Socket Mode connection, as Slack does when it
// refreshes them; the app is expected to reconnect.
func (s *Server) DropSockets() {
	s.mu.Lock()
	conns := append([]*websocket.Conn(nil), s.sockets...)
	s.sockets = nil
	s.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

// sendSocket sends one envelope and waits for its ack (Slack waits 3 s).
func (s *Server) sendSocket(ctx context.Context, typ string, payload any) (Reply, error) {
	s.mu.Lock()
	if len(s.sockets) == 0 {
		s.mu.Unlock()
		return Reply{}, ErrNoApp
	}
	s.envSeq++
	id := "env-" + strconv.Itoa(s.envSeq)
	ch := make(chan json.RawMessage, 1)
	s.acks[id] = ch
	err := s.sockets[0].WriteJSON(map[string]any{"envelope_id": id, "type": typ, "payload": payload, "accepts_response_payload": typ != "events_api"})
	s.mu.Unlock()
	if err != nil {
		return Reply{}, fmt.Errorf("socket write: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	select {
	case p := <-ch:
		return Reply{Status: http.StatusOK, Body: p}, nil
	case <-ctx.Done():
		s.mu.Lock()
		delete(s.acks, id)
		s.mu.Unlock()
		return Reply{}, fmt.Errorf("no ack for %s within 3s: %w", id, ctx.Err())
	}
}
