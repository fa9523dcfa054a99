package outbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/storage"
)

const (
	helperEnv   = "SITREP_OUTBOX_HELPER"
	helperDB    = "SITREP_OUTBOX_HELPER_DB"
	helperURL   = "SITREP_OUTBOX_HELPER_URL"
	killedRooms = 2
)

// httpChat posts messages as JSON to a URL; the response body is the message ID.
type httpChat struct{ url string }

func (h httpChat) Platform() string { return "http" }

func (h httpChat) Capabilities() adapters.Capabilities { return adapters.Capabilities{Edit: true} }

func (h httpChat) Deliver(ctx context.Context, d adapters.Delivery) (string, error) {
	room, msg := d.Room, d.Msg
	body, err := json.Marshal(killBody{room.Name, d.Op, d.Ref, msg})
	if err != nil {
		return "", adapters.Permanent(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(body))
	if err != nil {
		return "", adapters.Permanent(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("post: %w", err)
	}
	defer res.Body.Close()
	id, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("post: status %d: %v", res.StatusCode, err)
	}
	return string(id), nil
}

// killBody is what httpChat sends for one delivery.
type killBody struct {
	Room string           `json:"room"`
	Op   adapters.Op      `json:"op"`
	Ref  string           `json:"ref"`
	Msg  adapters.Message `json:"msg"`
}

// TestHelperProcess is the child of TestKill9: it delivers the outbox of the
// db named in the environment to the parent's HTTP server until it is empty.
func TestHelperProcess(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		t.Skip("only runs as TestKill9's child")
	}
	db, err := storage.Open(os.Getenv(helperDB), storage.Options{LockTimeout: 5 * time.Second})
	require.NoError(t, err)
	defer db.Close()
	chat := httpChat{url: os.Getenv(helperURL)}
	o := New(db, Options{
		Resolve: func(room string) (Endpoint, bool) {
			return Endpoint{Room: adapters.Room{Name: room, ID: room}, Chat: chat}, true
		},
		BaseBackoff: 5 * time.Millisecond,
		MaxBackoff:  50 * time.Millisecond,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- o.Run(ctx) }()
	for {
		total := 0
		for r := range killedRooms {
			n, err := o.Pending(fmt.Sprintf("room-%d", r))
			require.NoError(t, err)
			total += n
		}
		if total == 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	require.NoError(t, <-done)
}

// TestKill9 SIGKILLs a delivering process while the platform holds a message
// it has not answered yet, restarts it, and checks the documented window:
// every message arrives, and at most one per room arrives twice.
func TestKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	const perRoom = 60
	const killAt = 37 // the platform receives this many posts, then the process dies
	path := t.TempDir() + "/sitrep.db"
	db, err := storage.Open(path, storage.Options{})
	require.NoError(t, err)
	for r := range killedRooms {
		for i := range perRoom {
			id := uint64(r*1000 + i + 1)
			enqueueMsgs(t, db, fmt.Sprintf("room-%d", r), time.Now(), adapters.Message{IncidentID: id, EventID: id, Text: "x"})
		}
	}
	require.NoError(t, db.Close())

	var (
		mu     sync.Mutex
		counts = map[uint64]int{}
		order  = map[string][]uint64{}
		total  int
		child  atomic.Pointer[os.Process]
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body killBody
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		counts[body.Msg.EventID]++
		order[body.Room] = append(order[body.Room], body.Msg.EventID)
		total++
		n := total
		mu.Unlock()
		if n == killAt {
			// Accepted, but the sender dies before hearing so.
			for child.Load() == nil {
				time.Sleep(time.Millisecond)
			}
			_ = child.Load().Kill()
			return
		}
		fmt.Fprintf(w, "msg-%d", body.Msg.EventID)
	}))
	defer srv.Close()

	run := func() (*exec.Cmd, error) { return runHelper(t, path, srv.URL, &child) }

	_, err = run()
	requireKilled(t, err)
	mu.Lock()
	// The other room's post may have reached the platform alongside.
	require.GreaterOrEqual(t, total, killAt)
	require.Less(t, total, killAt+killedRooms)
	mu.Unlock()

	_, err = run()
	require.NoError(t, err, "second child delivers the rest and exits")

	mu.Lock()
	defer mu.Unlock()
	dups := map[string]int{}
	for r := range killedRooms {
		room := fmt.Sprintf("room-%d", r)
		for i := range perRoom {
			id := uint64(r*1000 + i + 1)
			c := counts[id]
			assert.GreaterOrEqual(t, c, 1, "message %d lost", id)
			assert.LessOrEqual(t, c, 2, "message %d", id)
			if c > 1 {
				dups[room]++
			}
		}
		assert.LessOrEqual(t, dups[room], 1, "at most one duplicate per room")
		// FIFO per room, apart from the one re-send.
		last := uint64(0)
		for _, id := range order[room] {
			assert.GreaterOrEqual(t, id, last, "room %s order %v", room, order[room])
			last = id
		}
	}
	t.Logf("posts: %d for %d messages; duplicates by room: %v", total, killedRooms*perRoom, dups)
}

// runHelper runs TestHelperProcess on the db at path against the platform at
// url, keeping its process in child so the platform can kill it.
func runHelper(t *testing.T, path, url string, child *atomic.Pointer[os.Process]) (*exec.Cmd, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"=1", helperDB+"="+path, helperURL+"="+url)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	child.Store(nil)
	require.NoError(t, cmd.Start())
	child.Store(cmd.Process)
	err := cmd.Wait()
	if err != nil {
		t.Logf("child output:\n%s", out.String())
	}
	return cmd, err
}

// requireKilled fails the test unless err says the child died of SIGKILL.
func requireKilled(t *testing.T, err error) {
	t.Helper()
	var exit *exec.ExitError
	require.True(t, errors.As(err, &exit), "first child must be killed, got %v", err)
	status, ok := exit.Sys().(syscall.WaitStatus)
	require.True(t, ok)
	require.True(t, status.Signaled(), "first child must die by signal")
	assert.Equal(t, syscall.SIGKILL, status.Signal())
}
