package bot

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/sitrep/sitrep/ingest"
)

// benchClient posts to one server from many goroutines over kept-alive connections.
func benchClient() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024, MaxConnsPerHost: 0}}
}

// target is a server under test in its own process.
type target struct {
	url string
	pid int
}

// procUsage is what /proc says a process has used so far.
type procUsage struct {
	cpu        time.Duration // user + system
	diskBytes  int64         // bytes it caused to be written to storage (write_bytes)
	writeCalls int64         // write syscalls, sockets included (syscw)
}

func readProcUsage(t testing.TB, pid int) procUsage {
	t.Helper()
	var u procUsage
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	require.NoError(t, err)
	// Fields after the command name (which may hold spaces) start at state.
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	u.cpu = time.Duration(utime+stime) * time.Second / 100 // USER_HZ
	io, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	require.NoError(t, err)
	for _, line := range strings.Split(string(io), "\n") {
		k, v, _ := strings.Cut(line, ": ")
		n, _ := strconv.ParseInt(v, 10, 64)
		switch k {
		case "write_bytes":
			u.diskBytes = n
		case "syscw":
			u.writeCalls = n
		}
	}
	return u
}

// postLoad posts bodies from clients goroutines to tg's path and reports
// alerts/s, latency percentiles, and the server's CPU time and disk writes
// per alert (from /proc: these hold up on a shared machine far better than
// throughput does). Disk write syscalls are its write syscalls less one
// per response.
func postLoad(b *testing.B, tg target, path, token string, clients, alertsPerReq int, body func(i int64) []byte) {
	b.Helper()
	url := tg.url + path
	before := readProcUsage(b, tg.pid)
	client := benchClient()
	var (
		next      atomic.Int64
		mu        sync.Mutex
		latencies = make([]time.Duration, 0, b.N)
		wg        sync.WaitGroup
		failed    atomic.Value
	)
	b.ResetTimer()
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, b.N/clients+1)
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					break
				}
				req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body(i)))
				if token != "" {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				req.Header.Set("Content-Type", "application/json")
				t0 := time.Now()
				res, err := client.Do(req)
				if err != nil {
					failed.Store(err.Error())
					return
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				local = append(local, time.Since(t0))
				if res.StatusCode/100 != 2 {
					failed.Store(fmt.Sprintf("status %d", res.StatusCode))
					return
				}
			}
			mu.Lock()
			latencies = append(latencies, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if f := failed.Load(); f != nil {
		b.Fatal(f)
	}
	slices.Sort(latencies)
	pct := func(p float64) float64 {
		if len(latencies) == 0 {
			return 0
		}
		return float64(latencies[min(len(latencies)-1, int(p*float64(len(latencies))))].Microseconds()) / 1000
	}
	after := readProcUsage(b, tg.pid)
	alerts := float64(b.N * alertsPerReq)
	b.ReportMetric(alerts/elapsed.Seconds(), "alerts/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64((after.cpu-before.cpu).Microseconds())/alerts, "server-cpu-µs/alert")
	b.ReportMetric(float64(after.diskBytes-before.diskBytes)/alerts, "disk-B/alert")
	b.ReportMetric(float64(after.writeCalls-before.writeCalls-int64(b.N))/alerts, "disk-writes/alert")
}

// alertBody is a VictorOps alert for a host-named entity: the n-th new one.
func alertBody(keys keyShapes) func(n int64) []byte {
	return func(n int64) []byte {
		host := keys.host(n)
		return fmt.Appendf(nil, `{"message_type":"CRITICAL","entity_id":"disk-full/%s","entity_display_name":"Disk full on %s","state_message":"97%% used","routing_key":"payments","host_name":"%s"}`, host, host, host)
	}
}

// amBatch is an Alertmanager webhook of perReq alerts, the n-th batch, its
// alerts' fingerprints drawn from distinct of them.
func amBatch(keys keyShapes, perReq int, distinct int64) func(n int64) []byte {
	return func(n int64) []byte {
		var sb strings.Builder
		sb.WriteString(`{"version":"4","receiver":"payments","status":"firing","alerts":[`)
		for j := range perReq {
			if j > 0 {
				sb.WriteByte(',')
			}
			k := (n*int64(perReq) + int64(j)) % distinct
			fmt.Fprintf(&sb, `{"status":"firing","labels":{"alertname":"HighLatency","instance":"%s:9100","severity":"page"},"annotations":{"summary":"p99 over 1s"},"startsAt":"2026-11-23T08:00:00Z","fingerprint":"%s"}`, keys.host(k), keys.fingerprint(k))
		}
		sb.WriteString(`]}`)
		return []byte(sb.String())
	}
}

// amAPIBatch is the same alerts as amBatch in Alertmanager's own
// POST /api/v2/alerts form (it fingerprints the labels itself).
func amAPIBatch(keys keyShapes, perReq int, distinct int64) func(n int64) []byte {
	return func(n int64) []byte {
		var sb strings.Builder
		sb.WriteByte('[')
		for j := range perReq {
			if j > 0 {
				sb.WriteByte(',')
			}
			k := (n*int64(perReq) + int64(j)) % distinct
			fmt.Fprintf(&sb, `{"labels":{"alertname":"HighLatency","instance":"%s:9100","severity":"page"},"annotations":{"summary":"p99 over 1s"},"startsAt":"2026-11-23T08:00:00Z"}`, keys.host(k))
		}
		sb.WriteByte(']')
		return []byte(sb.String())
	}
}

// amAPISingle is alertBody's alert in Alertmanager's POST /api/v2/alerts form.
func amAPISingle(keys keyShapes) func(n int64) []byte {
	return func(n int64) []byte {
		host := keys.host(n)
		return fmt.Appendf(nil, `[{"labels":{"alertname":"DiskFull","instance":"%s","severity":"page"},"annotations":{"summary":"Disk full on %s: 97%% used"},"startsAt":"2026-11-23T08:00:00Z"}]`, host, host)
	}
}

// Every server under test runs in its own process, as it runs in
// production, so the load generator's allocations and scheduling are not
// charged to it: sitrep (startChild), a null server with sitrep's decoders
// and GC setting (startNullServer), and, where installed, Prometheus
// Alertmanager, which keeps alerts in memory and never fsyncs
// (startAlertmanager).

// BenchmarkIngestHTTP posts one VictorOps alert per request, each for a new
// host-named entity, from 256 concurrent clients: to a null server that
// decodes the requests as sitrep does and answers 202 without storing
// anything, to Alertmanager's /api/v2/alerts (the same alerts, skipped if it
// is not installed), and to sitrep on a real, fsynced bbolt file (routed and
// delivered to a web room). The ratios are what durability, routing and
// delivery cost. Run it several times and compare within a run.
func BenchmarkIngestHTTP(b *testing.B) {
	keys := newKeyShapes()
	b.Run("null-server/clients=256", func(b *testing.B) {
		postLoad(b, startNullServer(b), ingest.PathAlerts, ingestToken, 256, 1, alertBody(keys))
	})
	b.Run("alertmanager/clients=256", func(b *testing.B) {
		postLoad(b, startAlertmanager(b), "/api/v2/alerts", "", 256, 1, amAPISingle(keys))
	})
	b.Run("sitrep/clients=256", func(b *testing.B) {
		srv := startChild(b, writeConfig(b, baseConfig(newDataPath(b), "")))
		postLoad(b, srv.target(), ingest.PathAlerts, ingestToken, 256, 1, alertBody(keys))
	})
	b.Run("sitrep/clients=1", func(b *testing.B) {
		srv := startChild(b, writeConfig(b, baseConfig(newDataPath(b), "")))
		postLoad(b, srv.target(), ingest.PathAlerts, ingestToken, 1, 1, alertBody(keys))
	})
}

// BenchmarkIngestAlertmanager posts Alertmanager notifications of 100 alerts
// each from 32 clients, fingerprints in random order. "new" sends a new
// fingerprint every time (each one a new incident, routed and enqueued for its
// room); "refire" cycles 20,000 of them, as Alertmanager re-sends firing
// alerts (after the first pass they are repeats: stored, not posted). The null
// server and Alertmanager (its own API, skipped if not installed) take the
// same alerts.
func BenchmarkIngestAlertmanager(b *testing.B) {
	keys := newKeyShapes()
	const perReq, clients = 100, 32
	b.Run("null-server/new", func(b *testing.B) {
		postLoad(b, startNullServer(b), ingest.PathAlertmanager, ingestToken, clients, perReq, amBatch(keys, perReq, 1<<62))
	})
	b.Run("alertmanager/new", func(b *testing.B) {
		postLoad(b, startAlertmanager(b), "/api/v2/alerts", "", clients, perReq, amAPIBatch(keys, perReq, 1<<62))
	})
	for _, tc := range []struct {
		name     string
		distinct int64
	}{{"new", 1 << 62}, {"refire", 20000}} {
		b.Run("sitrep/"+tc.name, func(b *testing.B) {
			srv := startChild(b, writeConfig(b, baseConfig(newDataPath(b), "")))
			postLoad(b, srv.target(), ingest.PathAlertmanager, ingestToken, clients, perReq, amBatch(keys, perReq, tc.distinct))
		})
	}
}

// BenchmarkAlertToWebRoom measures, one alert at a time, how long an alert
// takes from the POST to its message arriving at a client of the web room,
// with sitrep in its own process: "idle" with nothing else going on,
// "saturated" while 32 clients post Alertmanager batches of 100 new alerts
// flat out (to another room), keeping the store's writer busy.
func BenchmarkAlertToWebRoom(b *testing.B) {
	for _, saturated := range []bool{false, true} {
		name := "idle"
		if saturated {
			name = "saturated"
		}
		b.Run(name, func(b *testing.B) {
			srv := startChild(b, writeConfig(b, baseConfig(newDataPath(b), `rate_limits:
  webroom: {messages: 1000, per: 1s}
routes:
  - name: probes
    matchers: ['routing_key="probe"']
    rooms: [payments]
`)))
			probes := srv.join(b, "payments")
			keys := newKeyShapes()
			stop := make(chan struct{})
			var wg sync.WaitGroup
			var batches atomic.Int64
			if saturated {
				load := amBatch(newKeyShapes(), 100, 1<<62)
				client := benchClient()
				for range 32 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := int64(0); ; i++ {
							select {
							case <-stop:
								return
							default:
							}
							req, _ := http.NewRequest(http.MethodPost, srv.URL+ingest.PathAlertmanager, bytes.NewReader(load(batches.Add(1))))
							req.Header.Set("Authorization", "Bearer "+ingestToken)
							req.Header.Set("Content-Type", "application/json")
							res, err := client.Do(req)
							if err != nil {
								return
							}
							_, _ = io.Copy(io.Discard, res.Body)
							res.Body.Close()
						}
					}()
				}
				time.Sleep(time.Second) // until the writer is saturated
			}
			var lat []time.Duration
			i := 0
			start0 := time.Now()
			b.ResetTimer()
			for b.Loop() {
				i++
				name := keys.host(int64(i))
				start := time.Now()
				srv.alert(b, map[string]any{"message_type": "CRITICAL", "entity_id": name, "entity_display_name": name, "routing_key": "probe"})
				probes.waitFor(b, 30*time.Second, name, func(f map[string]any) bool { return f["title"] == name })
				lat = append(lat, time.Since(start))
				if saturated {
					time.Sleep(20 * time.Millisecond) // probes, not load
				}
			}
			elapsed := time.Since(start0)
			close(stop)
			wg.Wait()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
			if saturated {
				b.ReportMetric(float64(batches.Load()*100)/elapsed.Seconds(), "load-alerts/s")
			}
		})
	}
}

// BenchmarkDiskPerAlert posts b.N VictorOps alerts, each for a new
// host-named entity, from 256 clients to sitrep (in this process, to read its
// store's counters), waits until each has been delivered to its web room,
// and reports what one alert cost in bbolt writes (page bytes and page
// writes, each a write syscall, beside one meta page and one fdatasync per
// commit) and in bytes of the data file in use. Run it with
// -benchtime 30000x or more: the file grows in steps.
func BenchmarkDiskPerAlert(b *testing.B) {
	tb := startBot(b, baseConfig(newDataPath(b), "rate_limits:\n  webroom: {messages: 100000, per: 1s}\n"))
	keys := newKeyShapes()
	u0, err := tb.db.Usage()
	require.NoError(b, err)
	s0 := tb.db.Stats()
	postLoad(b, target{url: tb.URL, pid: os.Getpid()}, ingest.PathAlerts, ingestToken, 256, 1, alertBody(keys))
	require.Eventually(b, func() bool { n, _ := tb.outbox.Pending("ops"); return n == 0 }, 5*time.Minute, 50*time.Millisecond)
	s1 := tb.db.Stats()
	u1, err := tb.db.Usage()
	require.NoError(b, err)
	n := float64(b.N)
	commits := float64(s1.Commits - s0.Commits)
	b.ReportMetric(float64(s1.PageBytes-s0.PageBytes)/n+commits*4096/n, "write-B/alert")
	b.ReportMetric(float64(s1.PageWrites-s0.PageWrites)/n+commits*2/n, "write-syscalls/alert")
	b.ReportMetric(float64(s1.Writes-s0.Writes)/commits, "writes/commit")
	b.ReportMetric(float64(u1.UsedBytes-u0.UsedBytes)/n, "used-B/alert")
	b.ReportMetric(float64(u1.FileBytes)/n, "file-B/alert")
	if b.N >= 1000 { // where the bytes are, bucket by bucket (go test -v)
		require.NoError(b, tb.db.View(func(tx *bolt.Tx) error {
			return tx.ForEach(func(name []byte, bk *bolt.Bucket) error {
				if st := bk.Stats(); st.LeafAlloc > 4096 {
					b.Logf("%-12s %7d keys, %5.0f B/alert in pages (%3.0f%% full)", name, st.KeyN,
						float64(st.LeafAlloc+st.BranchAlloc)/n, 100*float64(st.LeafInuse)/float64(st.LeafAlloc))
				}
				return nil
			})
		}))
	}
}
