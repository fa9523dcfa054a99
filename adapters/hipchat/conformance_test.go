package hipchat_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/adapters/conformance"
	"github.com/sitrep/sitrep/adapters/hipchat"
	"github.com/sitrep/sitrep/adapters/hipchat/hipchattest"
)

// recorder wraps the adapter to learn which notification each synthetic ID
// stands for: HipChat gives notifications no ID, so Seen pairs each one the
// fake received with the ID of a delivery that sent exactly that message.
type recorder struct {
	*hipchat.Client
	mu   sync.Mutex
	sent []posted
}

type posted struct{ id, message string }

func (r *recorder) Deliver(ctx context.Context, d adapters.Delivery) (string, error) {
	id, err := r.Client.Deliver(ctx, d)
	if err == nil && d.Op != adapters.OpUpdate { // the suite sends no updates: HipChat cannot edit
		rendered, _ := hipchat.Render(d.Msg, "")
		r.mu.Lock()
		r.sent = append(r.sent, posted{id, rendered})
		r.mu.Unlock()
	}
	return id, err
}

// shown is what HipChat displays for an "html" notification: its text.
func shown(n hipchattest.Notification) string {
	if n.Format != "html" {
		return n.Message
	}
	return html.UnescapeString(strings.ReplaceAll(n.Message, "<br>", "\n"))
}

// seen is the room as HipChat shows it: notifications have no threads or
// buttons, so Parent and Actions stay empty.
func (r *recorder) seen(hc *hipchattest.Server, room string) func(context.Context) ([]conformance.Seen, error) {
	return func(context.Context) ([]conformance.Seen, error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		used := make([]bool, len(r.sent))
		var out []conformance.Seen
		for _, n := range hc.Messages(room) {
			s := conformance.Seen{Text: shown(n)}
			for i, p := range r.sent {
				if !used[i] && p.message == n.Message {
					used[i], s.ID = true, p.id
					break
				}
			}
			out = append(out, s)
		}
		return out, nil
	}
}

// roomReplies are the webhook's responses, which HipChat shows to the whole
// room.
type roomReplies struct {
	mu    sync.Mutex
	texts []string
}

func (r *roomReplies) add(text string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.texts = append(r.texts, text)
}

func (r *roomReplies) shown(context.Context, string) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.texts...), nil
}

func TestConformance(t *testing.T) {
	var webhookSeq atomic.Int64 // message IDs unique across the subtests' webhooks
	conformance.Run(t, func(t *testing.T) conformance.Harness {
		hc := hipchattest.New(t)
		const roomID, token = "4242", "conformance-room-token-4242"
		hc.AddRoom(roomID, token)
		rec := conformance.NewRecorder()
		c := hipchat.New(hipchat.Options{BaseURL: hc.URL(), Handler: rec.Handle})
		mux := http.NewServeMux()
		c.Register(mux, "/hooks/hipchat")
		hook := httptest.NewServer(mux)
		t.Cleanup(hook.Close)

		r := &recorder{Client: c}
		replies := &roomReplies{}
		say := func(ctx context.Context, user, text string) error {
			body, err := json.Marshal(map[string]any{
				"event": "room_message",
				"item": map[string]any{
					"message": map[string]any{
						"id":      fmt.Sprintf("msg-%d", webhookSeq.Add(1)),
						"date":    time.Now().UTC().Format(time.RFC3339Nano),
						"message": text,
						"from":    map[string]any{"id": 1, "mention_name": user, "name": user},
					},
					"room": map[string]any{"id": 4242, "name": "conformance"},
				},
				"oauth_client_id": "conformance",
				"webhook_id":      1,
			})
			if err != nil {
				return fmt.Errorf("encode webhook: %w", err)
			}
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, hook.URL+"/hooks/hipchat", bytes.NewReader(body))
			if err != nil {
				return fmt.Errorf("webhook request: %w", err)
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return fmt.Errorf("webhook: %w", err)
			}
			defer resp.Body.Close()
			if resp.StatusCode/100 != 2 {
				return fmt.Errorf("webhook answered %s", resp.Status)
			}
			if resp.StatusCode == http.StatusOK {
				var out struct{ Message string }
				if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
					return fmt.Errorf("decode the webhook's reply: %w", err)
				}
				replies.add(out.Message)
			}
			return nil
		}
		return conformance.Harness{
			Chat:    r,
			Room:    adapters.Room{Name: "conformance", ID: roomID, Token: token},
			Seen:    r.seen(hc, roomID),
			Say:     say,
			Inbound: rec.Inbound(),
			Answer:  rec.Answer,
			Replies: replies.shown,
		}
	})
}
