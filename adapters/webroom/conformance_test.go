package webroom

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/adapters/conformance"
)

// viewer is a browser's view of a room, kept from the websocket's frames the
// way page.html keeps it: messages by ID, in ID order, updates in place.
type viewer struct {
	mu   sync.Mutex
	msgs map[string]Frame
	err  error
}

func (v *viewer) run(ws *websocket.Conn) {
	for {
		_, data, err := ws.ReadMessage()
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
		}
		v.mu.Unlock()
	}
}

func (v *viewer) seen(context.Context) ([]conformance.Seen, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.err != nil {
		return nil, errors.Join(errors.New("viewer disconnected"), v.err)
	}
	out := make([]conformance.Seen, 0, len(v.msgs))
	for id, f := range v.msgs {
		out = append(out, conformance.Seen{ID: id, Text: f.Text})
	}
	slices.SortFunc(out, func(a, b conformance.Seen) int {
		x, _ := strconv.ParseUint(a.ID, 10, 64)
		y, _ := strconv.ParseUint(b.ID, 10, 64)
		return cmp.Compare(x, y)
	})
	return out, nil
}

func TestConformance(t *testing.T) {
	conformance.Run(t, func(t *testing.T) conformance.Harness {
		f := newFixture(t, Options{}, nil)
		room := adapters.Room{Name: "ops", ID: "ops"}

		v := &viewer{msgs: map[string]Frame{}}
		view := f.join(t, room.ID)
		go v.run(view.ws)

		responder := f.join(t, room.ID)
		go func() { // drain the responder's frames so its queue never fills
			for {
				if _, _, err := responder.ws.ReadMessage(); err != nil {
					return
				}
			}
		}()
		var sayMu sync.Mutex
		say := func(_ context.Context, user, text string) error {
			data, err := json.Marshal(map[string]string{"user": user, "text": text})
			require.NoError(t, err)
			sayMu.Lock()
			defer sayMu.Unlock()
			return responder.ws.WriteMessage(websocket.TextMessage, data)
		}
		return conformance.Harness{
			Chat:    f.w,
			Room:    room,
			Seen:    v.seen,
			Say:     say,
			Inbound: f.inbound,
		}
	})
}
