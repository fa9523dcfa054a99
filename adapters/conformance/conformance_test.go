package conformance_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/adapters/conformance"
)

// memChat is the smallest adapter that passes: an in-memory room that cuts
// long texts with a marker and takes no inbound messages.
type memChat struct {
	mu   sync.Mutex
	next int
	msgs []conformance.Seen
}

const maxRunes = 1000

func (m *memChat) Platform() string { return "memory" }

func (m *memChat) Post(ctx context.Context, _ adapters.Room, msg adapters.Message) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	text := msg.Text
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

func (m *memChat) Update(ctx context.Context, _ adapters.Room, id string, msg adapters.Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.msgs {
		if m.msgs[i].ID == id {
			m.msgs[i].Text = msg.Text
			return nil
		}
	}
	return errors.New("not found")
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
