package discordtest

import (
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

type frame struct {
	Op int             `json:"op"`
	D  json.RawMessage `json:"d,omitempty"`
	S  int             `json:"s,omitempty"`
	T  string          `json:"t,omitempty"`
}

// GatewayCounts are the gateway's IDENTIFYs, RESUMEs and heartbeats.
func (f *Fake) GatewayCounts() (identify, resumes, heartbeats int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.identify, f.resumes, f.heartbeats
}

// Connected reports how many gateway sessions are up (past IDENTIFY or RESUME).
func (f *Fake) Connected() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.conns)
}

var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

func send(c *websocket.Conn, mu *sync.Mutex, fr frame) error {
	raw, err := json.Marshal(fr)
	if err != nil {
		return err
	}
	mu.Lock()
	defer mu.Unlock()
	_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return c.WriteMessage(websocket.TextMessage, raw)
}

func (f *Fake) serveGateway(w http.ResponseWriter, r *http.Request) {
	c, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer c.Close()
	mu := &sync.Mutex{}
	if send(c, mu, frame{Op: 10, D: json.RawMessage(`{"heartbeat_interval":500}`)}) != nil {
		return
	}
	ready := false
	defer func() {
		f.mu.Lock()
		delete(f.conns, c)
		f.mu.Unlock()
	}()
	for {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, raw, err := c.ReadMessage()
		if err != nil {
			return
		}
		var in struct {
			Op int             `json:"op"`
			D  json.RawMessage `json:"d"`
		}
		var auth struct {
			Token   string `json:"token"`
			Intents int    `json:"intents"`
		}
		if json.Unmarshal(raw, &in) != nil || (in.Op == 2 || in.Op == 6) && json.Unmarshal(in.D, &auth) != nil {
			_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4002, "decode error"), time.Now().Add(time.Second))
			return
		}
		switch in.Op {
		case 1:
			f.mu.Lock()
			f.heartbeats++
			f.mu.Unlock()
			_ = send(c, mu, frame{Op: 11})
		case 2, 6:
			if auth.Token != "Bot "+f.Token {
				_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4004, "Authentication failed"), time.Now().Add(time.Second))
				return
			}
			f.mu.Lock()
			f.seq++
			seq := f.seq
			t := "READY"
			d := json.RawMessage(`{"v":10,"session_id":"fake-session","user":{"id":"` + BotID + `","username":"sitrep","bot":true},"guilds":[]}`)
			if in.Op == 6 {
				f.resumes++
				t, d = "RESUMED", json.RawMessage(`{}`)
			} else {
				f.identify++
			}
			f.mu.Unlock()
			if send(c, mu, frame{Op: 0, T: t, S: seq, D: d}) != nil {
				return
			}
			if !ready {
				ready = true
				f.mu.Lock()
				f.conns[c] = mu
				f.mu.Unlock()
			}
		}
	}
}

// Say dispatches MESSAGE_CREATE for a message user typed in channel (or a
// thread), to every gateway session, and returns its ID. author is the
// author object as Discord sends it (nil for a person called user).
func (f *Fake) Say(channel, userID, name, text string, author map[string]any) string {
	if author == nil {
		author = map[string]any{"id": userID, "username": name, "global_name": name}
	}
	f.mu.Lock()
	id := f.id()
	m := &Message{ID: id, ChannelID: channel, Content: text, Author: userID}
	f.msgs[id] = m
	f.order = append(f.order, id)
	f.mu.Unlock()
	raw, _ := json.Marshal(map[string]any{"id": id, "channel_id": channel, "content": text, "author": author,
		"timestamp": time.Now().UTC().Format(time.RFC3339Nano)})
	f.Dispatch("MESSAGE_CREATE", raw)
	return id
}

// Dispatch sends an event, as is, to every gateway session.
func (f *Fake) Dispatch(event string, d json.RawMessage) {
	f.mu.Lock()
	f.seq++
	seq := f.seq
	conns := make(map[*websocket.Conn]*sync.Mutex, len(f.conns))
	for c, mu := range f.conns {
		conns[c] = mu
	}
	f.mu.Unlock()
	for c, mu := range conns {
		_ = send(c, mu, frame{Op: 0, T: event, S: seq, D: d})
	}
}

// Reconnect asks every gateway session to reconnect (op 7) and drops it.
func (f *Fake) Reconnect() {
	f.mu.Lock()
	conns := make(map[*websocket.Conn]*sync.Mutex, len(f.conns))
	for c, mu := range f.conns {
		conns[c] = mu
		delete(f.conns, c)
	}
	f.mu.Unlock()
	for c, mu := range conns {
		_ = send(c, mu, frame{Op: 7})
		c.Close()
	}
}
