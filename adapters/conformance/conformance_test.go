package conformance_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/adapters/conformance"
)

// memChat is the smallest adapter that passes: an in-memory room with no
// capabilities that cuts long texts with a marker and takes no inbound
// messages. Every capability branch of the suite skips for it.
type memChat struct {
	mu   sync.Mutex
	next int
	msgs []conformance.Seen
}

const maxRunes = 1000

func (m *memChat) Platform() string { return "memory" }

func (m *memChat) Capabilities() adapters.Capabilities { return adapters.Capabilities{} }

func (m *memChat) Deliver(ctx context.Context, d adapters.Delivery) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	text := d.Msg.Text
	if utf8.RuneCountInString(text) > maxRunes {
		text = string([]rune(text)[:maxRunes-1]) + "…"
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.next++
	id := strconv.Itoa(m.next)
	m.msgs = append(m.msgs, conformance.Seen{ID: id, Text: text})
	return id, nil
}

func (m *memChat) seen(context.Context) ([]conformance.Seen, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]conformance.Seen(nil), m.msgs...), nil
}

func TestRunOnAnInMemoryAdapter(t *testing.T) {
	conformance.Run(t, func(t *testing.T) conformance.Harness {
		m := &memChat{}
		return conformance.Harness{Chat: m, Room: adapters.Room{Name: "ops", ID: "ops"}, Seen: m.seen}
	})
}

func TestRecorder(t *testing.T) {
	r := conformance.NewRecorder()
	in := adapters.Inbound{Platform: "memory", RoomID: "ops", User: "alice", Text: "hi"}
	reply, err := r.Handle(context.Background(), in)
	if err != nil || !reply.Empty() {
		t.Fatalf("before Answer: %+v, %v; want an empty reply", reply, err)
	}
	r.Answer(adapters.Reply{Text: "noted", Private: true})
	reply, err = r.Handle(context.Background(), in)
	if err != nil || reply != (adapters.Reply{Text: "noted", Private: true}) {
		t.Fatalf("after Answer: %+v, %v", reply, err)
	}
	for range 2 {
		if got := <-r.Inbound(); got != in {
			t.Fatalf("Inbound gave %+v; want %+v", got, in)
		}
	}
}
