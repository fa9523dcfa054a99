package outbox

import (
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestDbgRetry(t *testing.T) {
	for range 60 {
		db := tempDB(t)
		chat := newFakeChat(Limit{})
		chat.retryAfterNext, chat.retryAfter = 1, 300*time.Millisecond
		log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
		o := New(db, Options{Resolve: targets(Limit{}, map[string]*fakeChat{"ops": chat}), BaseBackoff: time.Millisecond, Logger: log})
		stop := running(t, o)
		enqueue(t, db, "ops", time.Now(), msg(1))
		o.Notify("ops")
		require.Eventually(t, func() bool { e, n, err := o.head("ops"); return err == nil && n == 1 && !e.NextAt.IsZero() }, wait, time.Millisecond)
		require.Eventually(t, func() bool { return len(chat.Posts()) == 1 }, wait, time.Millisecond)
		c := chat.Calls()
		t.Log(c[1].Sub(c[0]))
		stop()
	}
}
