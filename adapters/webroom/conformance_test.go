package webroom

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/adapters/conformance"
)

// viewer is a browser's view of a room, kept from the websocket's frames the
// way page.html keeps it: messages by ID, in ID order, updates in place, and
// the replies this browser alone was sent.
type viewer struct {
	ws      *websocket.Conn
	writeMu sync.Mutex

	mu      sync.Mutex
	msgs    map[string]Frame
	replies []string
	err     error
}

func newViewer(ws *websocket.Conn) *viewer {
	v := &viewer{ws: ws, msgs: map[string]Frame{}}
	go v.run()
	return v
}

func (v *viewer) run() {
	for {
		_, data, err := v.ws.ReadMessage()
		if err != nil {
			v.mu.Lock()
			v.err = err
			v.mu.Unlock()
			return
		}
		var f Frame
		if err := json.Unmarshal(data, &f); err != nil || f.Message == nil {
			continue
		}
		v.mu.Lock()
		switch f.Type {
		case FrameMessage:
			v.msgs[f.ID] = f
		case FrameUpdate:
			if _, ok := v.msgs[f.ID]; ok {
				v.msgs[f.ID] = f
			}
		case FrameReply:
			v.replies = append(v.replies, f.Text)
		}
		v.mu.Unlock()
	}
}

// say sends a line typed as user.
func (v *viewer) say(user, text string) error {
	data, err := json.Marshal(map[string]string{"user": user, "text": text})
	if err != nil {
		return err
	}
	v.writeMu.Lock()
	defer v.writeMu.Unlock()
	return v.ws.WriteMessage(websocket.TextMessage, data)
}

// press presses the button for verb on message id, as the page does.
func (v *viewer) press(user, id string, verb adapters.Verb) error {
	v.mu.Lock()
	f, ok := v.msgs[id]
	v.mu.Unlock()
	if !ok {
		return fmt.Errorf("message %s is not shown", id)
	}
	data, err := json.Marshal(map[string]any{"user": user, "message_id": id, "ref": "press-" + id + "-" + string(verb),
		"action": adapters.Action{Verb: verb, IncidentID: f.IncidentID}})
	if err != nil {
		return err
	}
	v.writeMu.Lock()
	defer v.writeMu.Unlock()
	return v.ws.WriteMessage(websocket.TextMessage, data)
}

// seen is the room as the page shows it. The page has no threads, so
// Parent stays empty.
func (v *viewer) seen(context.Context) ([]conformance.Seen, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.err != nil {
		return nil, errors.Join(errors.New("viewer disconnected"), v.err)
	}
	out := make([]conformance.Seen, 0, len(v.msgs))
	for id, f := range v.msgs {
		out = append(out, conformance.Seen{ID: id, Text: f.Text, Actions: f.Actions})
	}
	slices.SortFunc(out, func(a, b conformance.Seen) int {
		x, _ := strconv.ParseUint(a.ID, 10, 64)
		y, _ := strconv.ParseUint(b.ID, 10, 64)
		return cmp.Compare(x, y)
	})
	return out, nil
}

func (v *viewer) shownReplies() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return slices.Clone(v.replies)
}

func TestConformance(t *testing.T) {
	conformance.Run(t, func(t *testing.T) conformance.Harness {
		rec := conformance.NewRecorder()
		// Responders hold keys of their own, so their names are verified.
		users := map[string]string{conformance.Alice: "alice-key", conformance.Bob: "bob-key"}
		f := newFixture(t, Options{Users: users}, rec.Handle)
		room := adapters.Room{Name: "ops", ID: "ops"}
		view := newViewer(f.join(t, room.ID).ws)

		// Each responder types in a browser of their own, opened when they
		// first speak, so a reply shows to whoever's browser it reaches.
		var mu sync.Mutex
		browsers := map[string]*viewer{}
		browser := func(user string) *viewer {
			mu.Lock()
			defer mu.Unlock()
			b, ok := browsers[user]
			if !ok {
				b = newViewer(f.joinWith(t, room.ID, "key="+users[user]).ws)
				browsers[user] = b
			}
			return b
		}
		return conformance.Harness{
			Chat: f.w,
			Room: room,
			Seen: view.seen,
			Say: func(_ context.Context, user, text string) error {
				return browser(user).say(user, text)
			},
			Press: func(_ context.Context, user, messageID string, verb adapters.Verb) error {
				b := browser(user)
				waitShown(b, messageID)
				return b.press(user, messageID, verb)
			},
			Inbound: rec.Inbound(),
			Answer:  rec.Answer,
			Replies: func(_ context.Context, user string) ([]string, error) {
				mu.Lock()
				b, ok := browsers[user]
				mu.Unlock()
				if !ok {
					return nil, nil
				}
				return b.shownReplies(), nil
			},
		}
	})
}

// waitShown waits until b shows message id (or a few seconds pass): a
// browser opened for the press gets the card with the room's history.
func waitShown(b *viewer, id string) {
	for range 200 {
		b.mu.Lock()
		_, ok := b.msgs[id]
		b.mu.Unlock()
		if ok {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}
