package bot

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sitrep/sitrep/ingest"
	"github.com/sitrep/sitrep/storage"
)

// benchClient posts to one server from many goroutines over kept-alive connections.
func benchClient() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024, MaxConnsPerHost: 0}}
}

// postLoad posts bodies from clients goroutines and reports alerts/s and latency percentiles.
func postLoad(b *testing.B, url, token string, clients, alertsPerReq int, body func(i int64) []byte) {
	b.Helper()
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
				req.Header.Set("Authorization", "Bearer "+token)
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
				if res.StatusCode != http.StatusAccepted {
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
	b.ReportMetric(float64(b.N*alertsPerReq)/elapsed.Seconds(), "alerts/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}

func alertBody(i int64) []byte {
	return fmt.Appendf(nil, `{"message_type":"CRITICAL","entity_id":"bench-%d","entity_display_name":"Disk full on db-%d","state_message":"97%% used","routing_key":"payments","host_name":"db-%d"}`, i, i%97, i%97)
}

// BenchmarkIngestHTTP posts VictorOps alerts from 256 concurrent clients to a
// running sitrep on a real, fsynced bbolt file, next to a null server that
// decodes the same requests and answers 202 without storing anything: the
// ratio of the two is what durability (and routing, and delivery) costs.
func BenchmarkIngestHTTP(b *testing.B) {
	defer debug.SetGCPercent(debug.SetGCPercent(GCPercent)) // as sitrep serve runs, for both servers
	b.Run("null-server/clients=256", func(b *testing.B) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, err := io.ReadAll(r.Body)
			if err == nil {
				_, err = ingest.DecodeAlert(body, time.Now(), nil)
			}
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusAccepted)
			_, _ = io.WriteString(w, `{"incident_id":1,"entity_id":"x","event_id":1,"state":"triggered","created":true}`+"\n")
		}))
		defer srv.Close()
		postLoad(b, srv.URL+"/v1/alerts", ingestToken, 256, 1, alertBody)
	})
	b.Run("sitrep-bbolt/clients=256", func(b *testing.B) {
		tb := startBot(b, baseConfig(newDataPath(b), ""))
		before := tb.db.Stats()
		postLoad(b, tb.URL+"/v1/alerts", ingestToken, 256, 1, alertBody)
		reportBatch(b, before, tb.db.Stats())
	})
	b.Run("sitrep-bbolt/clients=1", func(b *testing.B) {
		tb := startBot(b, baseConfig(newDataPath(b), ""))
		postLoad(b, tb.URL+"/v1/alerts", ingestToken, 1, 1, alertBody)
	})
}

// BenchmarkIngestAlertmanager posts Alertmanager notifications of 100 alerts
// each from 32 clients. "refire" cycles 20,000 fingerprints, as Alertmanager
// re-sends firing alerts (after the first pass they are repeats: stored, not
// posted); "new" sends a new fingerprint every time (each one routed and
// enqueued for its room).
func BenchmarkIngestAlertmanager(b *testing.B) {
	defer debug.SetGCPercent(debug.SetGCPercent(GCPercent))
	for _, tc := range []struct {
		name     string
		distinct int64
	}{{"refire", 20000}, {"new", 1 << 62}} {
		b.Run(tc.name, func(b *testing.B) {
			tb := startBot(b, baseConfig(newDataPath(b), ""))
			body := func(i int64) []byte {
				var sb strings.Builder
				sb.WriteString(`{"version":"4","receiver":"payments","status":"firing","alerts":[`)
				for j := range 100 {
					if j > 0 {
						sb.WriteByte(',')
					}
					fmt.Fprintf(&sb, `{"status":"firing","labels":{"alertname":"HighLatency","instance":"web-%d","severity":"page"},"annotations":{"summary":"p99 over 1s"},"startsAt":"2026-11-23T08:00:00Z","fingerprint":"fp-%d"}`, j, (i*100+int64(j))%tc.distinct)
				}
				sb.WriteString(`]}`)
				return []byte(sb.String())
			}
			before := tb.db.Stats()
			postLoad(b, tb.URL+"/v1/hooks/alertmanager", ingestToken, 32, 100, body)
			reportBatch(b, before, tb.db.Stats())
		})
	}
}

// reportBatch reports the group-commit batch size over a run.
func reportBatch(b *testing.B, before, after storage.Stats) {
	if c := after.Commits - before.Commits; c > 0 {
		b.ReportMetric(float64(after.Writes-before.Writes)/float64(c), "writes/commit")
	}
}

// BenchmarkAlertToWebRoom measures, one alert at a time, how long an alert
// takes from the POST to its message arriving at a client of the web room.
func BenchmarkAlertToWebRoom(b *testing.B) {
	tb := startBot(b, baseConfig(newDataPath(b), "rate_limits:\n  webroom: {messages: 1000, per: 1s}\n"))
	ops := tb.join(b, "ops")
	var lat []time.Duration
	i := 0
	for b.Loop() {
		i++
		name := fmt.Sprintf("latency-%d", i)
		start := time.Now()
		tb.alert(b, map[string]any{"message_type": "CRITICAL", "entity_id": name, "entity_display_name": name})
		ops.waitFor(b, 5*time.Second, name, func(f map[string]any) bool { return f["title"] == name })
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
