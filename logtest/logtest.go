// Package logtest captures a component's log output in tests, so a test can
// assert what was (and, for tokens, what was never) logged.
package logtest

import (
	"bytes"
	"log/slog"
	"sync"
)

// Buffer is a log sink safe for concurrent writes.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// New returns a text logger at debug level and the buffer it writes to.
func New() (*slog.Logger, *Buffer) {
	buf := &Buffer{}
	return buf.Logger(slog.LevelDebug), buf
}

// Logger returns a text logger at level writing to b.
func (b *Buffer) Logger(level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: level}))
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns everything logged so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
