package bot

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sitrep/sitrep/config"
	"github.com/sitrep/sitrep/platforms"
	"github.com/sitrep/sitrep/storage"
	"github.com/sitrep/sitrep/timeline"
)

// Environment of a child sitrep process started by startChild.
const childConfigEnv = "SITREP_TEST_CHILD_CONFIG"

// TestChildServe is not a test: it is the body of the sitrep process the
// crash tests start (and kill -9). It serves the config in $SITREP_TEST_CHILD_CONFIG
// and prints "listening <addr>" once ready.
func TestChildServe(t *testing.T) {
	path := os.Getenv(childConfigEnv)
	if path == "" {
		t.Skip("only runs as a child of the crash tests")
	}
	debug.SetGCPercent(GCPercent) // as sitrep serve runs
	cfg, err := config.Parse(mustRead(path), path, os.Getenv, platforms.All().Config()...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	b, err := New(cfg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.Exit(2)
	}
	fmt.Printf("listening %s\n", ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM) // as sitrep serve does
	defer stop()
	if err := b.Run(ctx, ln); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

func mustRead(path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		panic(err)
	}
	return b
}

// child is a sitrep server in its own process.
type child struct {
	cmd *exec.Cmd
	*testBot
}

// startChild runs the config in its own process and waits until it listens.
func startChild(t testing.TB, cfgPath string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildServe$", "-test.count=1")
	cmd.Env = append(os.Environ(), childConfigEnv+"="+cfgPath)
	cmd.Stderr = os.Stderr
	return &child{cmd: cmd, testBot: &testBot{URL: "http://" + startListening(t, cmd)}}
}

// kill9 kills the child without letting it clean up.
func (c *child) kill9(t testing.TB) {
	t.Helper()
	require.NoError(t, c.cmd.Process.Signal(syscall.SIGKILL))
	_ = c.cmd.Wait()
}

func TestSIGTERMShutsDownCleanly(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	cfgPath := writeConfig(t, baseConfig(newDataPath(t), ""))
	srv := startChild(t, cfgPath)
	id := num(srv.alert(t, map[string]any{"message_type": "CRITICAL", "entity_id": "term"})["incident_id"])

	require.NoError(t, srv.cmd.Process.Signal(syscall.SIGTERM))
	exited := make(chan error, 1)
	go func() { exited <- srv.cmd.Wait() }()
	select {
	case err := <-exited:
		require.NoError(t, err, "sitrep exits 0 on SIGTERM")
	case <-time.After(20 * time.Second):
		t.Fatal("sitrep did not stop within 20s of SIGTERM")
	}
	// bbolt was closed: a new process opens the file at once and has the alert.
	again := startChild(t, cfgPath)
	assert.Equal(t, "term", again.incident(t, id)["entity_id"])
}

func writeConfig(t testing.TB, yaml string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "sitrep.yaml")
	require.NoError(t, os.WriteFile(p, []byte(yaml), 0o600))
	return p
}

func TestKill9KeepsEveryAcceptedAlert(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	cfgPath := writeConfig(t, baseConfig(newDataPath(t), ""))
	srv := startChild(t, cfgPath)

	type accepted struct {
		entity string
		id     uint64
	}
	var (
		mu   sync.Mutex
		got  []accepted
		wg   sync.WaitGroup
		stop = make(chan struct{})
	)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				entity := fmt.Sprintf("crash-%d-%d", w, i)
				code, out, err := srv.request("POST", "/v1/alerts", ingestToken, map[string]any{"message_type": "CRITICAL", "entity_id": entity})
				if err != nil {
					return // the server is gone
				}
				if code == 202 {
					mu.Lock()
					got = append(got, accepted{entity, num(out["incident_id"])})
					mu.Unlock()
				}
			}
		}()
	}
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(got) >= 200 }, 30*time.Second, 5*time.Millisecond)
	srv.kill9(t) // while the writers are still sending
	close(stop)
	wg.Wait()

	restarted := startChild(t, cfgPath)
	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d alerts got a 202 before kill -9", len(got))
	for _, a := range got {
		inc := restarted.incident(t, a.id)
		require.Equal(t, a.entity, inc["entity_id"], "incident #%d", a.id)
		assert.Equal(t, "triggered", inc["state"])
	}
}

// A kill -9 during a burst of alerts for the same few entities (single
// alerts and Alertmanager batches naming one fingerprint several times, firing
// and resolving, many in each group commit) leaves no entity with two open
// incidents, and the restarted server finds each entity's incident again.
func TestKill9DuringABurstForFewEntitiesOpensNoSecondIncident(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	cfgPath := writeConfig(t, baseConfig(newDataPath(t), ""))
	srv := startChild(t, cfgPath)
	keys := newKeyShapes()
	entities := make([]string, 5)
	for i := range entities {
		entities[i] = keys.fingerprint(int64(i))
	}
	var (
		accepted atomic.Int64
		wg       sync.WaitGroup
		stop     = make(chan struct{})
	)
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				e := entities[(w+i)%len(entities)]
				var code int
				var err error
				if w%2 == 0 {
					mt := "CRITICAL"
					if i%7 == 6 {
						mt = "RECOVERY"
					}
					code, _, err = srv.request("POST", "/v1/alerts", ingestToken, map[string]any{"message_type": mt, "entity_id": e})
				} else { // the same fingerprint three times in one request, beside the others
					alerts := []any{}
					for _, f := range []string{e, entities[(w+i+1)%len(entities)], e, e} {
						alerts = append(alerts, map[string]any{"status": "firing", "fingerprint": f, "labels": map[string]string{"alertname": "Burst", "instance": f}})
					}
					code, _, err = srv.request("POST", "/v1/hooks/alertmanager", ingestToken, map[string]any{"version": "4", "status": "firing", "alerts": alerts})
				}
				if err != nil {
					return // the server is gone
				}
				if code == http.StatusAccepted {
					accepted.Add(1)
				}
			}
		}()
	}
	require.Eventually(t, func() bool { return accepted.Load() >= 300 }, 30*time.Second, 5*time.Millisecond)
	srv.kill9(t)
	close(stop)
	wg.Wait()
	t.Logf("%d requests got a 202 before kill -9", accepted.Load())

	restarted := startChild(t, cfgPath)
	openOf := func() map[string][]uint64 {
		code, out := restarted.do(t, http.MethodGet, "/v1/incidents?limit=10000", adminToken, nil)
		require.Equal(t, http.StatusOK, code)
		open := map[string][]uint64{}
		list, _ := out["incidents"].([]any)
		require.NotEmpty(t, list)
		for _, v := range list {
			inc, _ := v.(map[string]any)
			if inc["state"] != "resolved" {
				e, _ := inc["entity_id"].(string)
				open[e] = append(open[e], num(inc["id"]))
			}
		}
		return open
	}
	before := openOf()
	for e, ids := range before {
		assert.Len(t, ids, 1, "open incidents of %s", e)
	}
	for _, e := range entities {
		out := restarted.alert(t, map[string]any{"message_type": "CRITICAL", "entity_id": e})
		if ids := before[e]; len(ids) == 1 {
			assert.Equal(t, ids[0], num(out["incident_id"]), "%s's open incident", e)
		}
	}
	for e, ids := range openOf() {
		assert.Len(t, ids, 1, "open incidents of %s", e)
	}
}

// BenchmarkStore100kEvents fills a store with 100,000 events (20,000
// incidents, five events each, delivered to their room), then starts sitrep
// on it in its own process and reports the time to ready and the resident
// memory after serving a few requests.
func BenchmarkStore100kEvents(b *testing.B) {
	data := newDataPath(b)
	cfgYAML := baseConfig(data, "")
	func() {
		cfg := parseConfig(b, cfgYAML)
		db, err := storage.Open(cfg.Data, storage.Options{NoSync: true})
		require.NoError(b, err)
		bt, err := build(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), db, platforms.All(), time.Now)
		require.NoError(b, err)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(b, err)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- bt.Run(ctx, ln) }()
		types := []string{timeline.MsgCritical, timeline.MsgWarning, timeline.MsgInfo, timeline.MsgAcknowledgement, timeline.MsgRecovery}
		keys := newKeyShapes()
		for batch := range 100 {
			alerts := make([]timeline.Alert, 0, 1000)
			for i := range 1000 {
				n := batch*1000 + i
				entity := keys.host(int64(n%200 + 200*(n/1000)))
				alerts = append(alerts, timeline.Alert{MessageType: types[(n/200)%5], EntityID: entity, Time: time.Now(),
					Fields: map[string]string{"entity_id": entity, "message_type": types[(n/200)%5], "entity_display_name": "Service " + entity + " is down",
						"state_message": "p99 latency 1.2s over 5m", "host_name": fmt.Sprintf("web-%d", n%50), "routing_key": "ops"}})
			}
			_, err := bt.tl.Ingest(ctx, alerts)
			require.NoError(b, err)
		}
		require.Eventually(b, func() bool { n, _ := bt.outbox.Pending("ops"); return n == 0 }, 60*time.Second, 50*time.Millisecond)
		cancel()
		require.NoError(b, <-done)
	}()
	cfgPath := writeConfig(b, cfgYAML)
	for b.Loop() {
		start := time.Now()
		c := startChild(b, cfgPath)
		ready := time.Since(start)
		for _, p := range []string{"/v1/incidents?limit=100", "/v1/incidents/1", "/v1/incidents/20000"} {
			code, _ := c.do(b, http.MethodGet, p, adminToken, nil)
			require.Equal(b, http.StatusOK, code, p)
		}
		b.ReportMetric(ready.Seconds()*1000, "ms-to-ready")
		b.ReportMetric(float64(rssKiB(b, c.cmd.Process.Pid))/1024, "RSS-MiB")
		if os.Getenv("SITREP_BENCH_SMAPS") != "" {
			raw, _ := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", c.cmd.Process.Pid))
			st, _ := os.Stat(data)
			b.Logf("data file %d MiB\n%s", st.Size()>>20, raw)
		}
		c.kill9(b)
	}
}

// BenchmarkStart1MIncidents fills a store with 1,000,000 incidents, one
// alert each for a new entity (random fingerprints), then starts sitrep on it
// in its own process and reports the time to ready (the entity index is
// rebuilt from the store on open) and its anonymous resident memory after a
// few requests: RssAnon, as bbolt's mmapped file pages are the OS's cache.
// SITREP_BENCH_INCIDENTS sets another count.
func BenchmarkStart1MIncidents(b *testing.B) {
	total := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("SITREP_BENCH_INCIDENTS")); err == nil && v > 0 {
		total = v
	}
	data := newDataPath(b)
	cfgYAML := baseConfig(data, "")
	keys := newKeyShapes()
	func() {
		db, err := storage.Open(data, storage.Options{NoSync: true})
		require.NoError(b, err)
		defer db.Close()
		tl := timeline.New(db, timeline.Options{})
		const per = 2000
		for n := 0; n < total; n += per {
			alerts := make([]timeline.Alert, 0, per)
			for i := n; i < min(n+per, total); i++ {
				fp := keys.fingerprint(int64(i))
				alerts = append(alerts, timeline.Alert{MessageType: timeline.MsgCritical, EntityID: fp, Time: time.Now(),
					Fields: map[string]string{"entity_id": fp, "message_type": timeline.MsgCritical, "alertname": "HighLatency",
						"instance": keys.host(int64(i)) + ":9100", "severity": "page", "summary": "p99 over 1s", "monitoring_tool": "alertmanager"},
					Origin: timeline.Origin{Adapter: "alertmanager"}})
			}
			_, err := tl.Ingest(context.Background(), alerts)
			require.NoError(b, err)
		}
	}()
	cfgPath := writeConfig(b, cfgYAML)
	for b.Loop() {
		start := time.Now()
		c := startChild(b, cfgPath)
		ready := time.Since(start)
		for _, p := range []string{"/v1/incidents?limit=100", "/v1/incidents/1", fmt.Sprintf("/v1/incidents/%d", total)} {
			code, _ := c.do(b, http.MethodGet, p, adminToken, nil)
			require.Equal(b, http.StatusOK, code, p)
		}
		out := c.alert(b, map[string]any{"message_type": "CRITICAL", "entity_id": keys.fingerprint(int64(total / 2))})
		require.Equal(b, float64(total/2+1), out["incident_id"], "the index knows an entity from before the start")
		b.ReportMetric(ready.Seconds()*1000, "ms-to-ready")
		b.ReportMetric(float64(procStatusKiB(b, c.cmd.Process.Pid, "VmRSS"))/1024, "RSS-MiB")
		b.ReportMetric(float64(procStatusKiB(b, c.cmd.Process.Pid, "RssAnon"))/1024, "RssAnon-MiB")
		c.kill9(b)
	}
	st, err := os.Stat(data)
	require.NoError(b, err)
	b.ReportMetric(float64(st.Size())/float64(total), "file-B/incident")
}

// rssKiB reads a process's resident set size from /proc.
func rssKiB(t testing.TB, pid int) int { return procStatusKiB(t, pid, "VmRSS") }

// procStatusKiB reads one of a process's memory figures (VmRSS, RssAnon, ...) from /proc.
func procStatusKiB(t testing.TB, pid int, field string) int {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			var kib int
			_, err := fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kib)
			require.NoError(t, err)
			return kib
		}
	}
	t.Fatalf("no %s", field)
	return 0
}
