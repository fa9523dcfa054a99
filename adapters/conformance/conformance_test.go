package conformance_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
	require.NoError(t, err)
	assert.True(t, reply.Empty(), "nothing to say before Answer")
	r.Answer(adapters.Reply{Text: "noted", Private: true})
	reply, err = r.Handle(context.Background(), in)
	require.NoError(t, err)
	assert.Equal(t, adapters.Reply{Text: "noted", Private: true}, reply)
	for range 2 {
		assert.Equal(t, in, <-r.Inbound())
	}
}
