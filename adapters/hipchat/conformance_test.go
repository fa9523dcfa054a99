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
// fake received with the ID of a Post that sent exactly that message.
type recorder struct {
	*hipchat.Client
	mu   sync.Mutex
	sent []posted
}

type posted struct{ id, message string }

func (r *recorder) Post(ctx context.Context, room adapters.Room, msg adapters.Message) (string, error) {
	id, err := r.Client.Post(ctx, room, msg)
	if err == nil {
		rendered, _ := hipchat.Render(msg, "")
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

var webhookSeq atomic.Int64

func TestConformance(t *testing.T) {
	conformance.Run(t, func(t *testing.T) conformance.Harness {
		if strings.HasSuffix(t.Name(), "/UpdateReplacesText") {
			// HipChat cannot edit a notification: Update posts a new one
			// ("update: ..."), so the old text stays shown and the ID Post
			// returned never shows the new text. A known platform limit,
			// not something the fake or the harness should paper over.
			t.Skip("HipChat v2 cannot edit notifications; Update posts a new \"update: \" notification")
		}
		hc := hipchattest.New(t)
		const roomID, token = "4242", "conformance-room-token-4242"
		hc.AddRoom(roomID, token)
		inbound := make(chan adapters.Inbound, 100)
		c := hipchat.New(hipchat.Options{BaseURL: hc.URL(), Handler: func(ctx context.Context, in adapters.Inbound) (string, error) {
			select {
			case inbound <- in:
			default:
			}
			return "", nil
		}})
		mux := http.NewServeMux()
		c.Register(mux, "/hooks/hipchat")
		hook := httptest.NewServer(mux)
		t.Cleanup(hook.Close)

		r := &recorder{Client: c}
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
				return err
			}
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, hook.URL+"/hooks/hipchat", bytes.NewReader(body))
			if err != nil {
				return err
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode/100 != 2 {
				return fmt.Errorf("webhook answered %s", resp.Status)
			}
			return nil
		}
		return conformance.Harness{
			Chat:    r,
			Room:    adapters.Room{Name: "conformance", ID: roomID, Token: token},
			Seen:    r.seen(hc, roomID),
			Say:     say,
			Inbound: inbound,
		}
	})
}
