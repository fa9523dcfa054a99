// Command sitrep-load sends alerts to a running sitrep (or any compatible
// endpoint) from many concurrent clients and reports throughput and latency.
// It only talks to the URL it is given; point it at loopback.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "sitrep-load:", err)
		os.Exit(1)
	}
}

type options struct {
	url      string
	token    string
	clients  int
	duration time.Duration
	requests int
	batch    int
	entities int
	salt     uint64 // this run's entity IDs (see entity)
}

// entity is the n-th distinct entity of a run, shaped as sources send them
// and in random key order, never as adjacent counters: a host-like name for a
// VictorOps alert, a 16-hex-digit fingerprint for an Alertmanager one.
func (o options) entity(n int64) (host, fingerprint string) {
	if o.entities > 0 {
		n %= int64(o.entities)
	}
	h := mix(uint64(n) ^ o.salt)
	roles := [...]string{"db", "web", "api", "cache", "queue", "search", "auth", "batch"}
	return fmt.Sprintf("%s-%012x.prod.example.net", roles[h%uint64(len(roles))], h>>16), fmt.Sprintf("%016x", h)
}

// mix is splitmix64's finaliser: a bijection that scatters neighbours.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("sitrep-load", flag.ContinueOnError)
	var o options
	fs.StringVar(&o.url, "url", "http://127.0.0.1:8080/v1/alerts", "endpoint: /v1/alerts, or /v1/hooks/alertmanager with -batch")
	fs.StringVar(&o.token, "token", os.Getenv("SITREP_INGEST_TOKEN"), "ingest token (default $SITREP_INGEST_TOKEN)")
	fs.IntVar(&o.clients, "c", 64, "concurrent clients")
	fs.DurationVar(&o.duration, "d", 10*time.Second, "how long to run (bounded; stops by itself)")
	fs.IntVar(&o.requests, "n", 0, "stop after this many requests (0: run for -d)")
	fs.IntVar(&o.batch, "batch", 0, "alerts per Alertmanager payload (0: one VictorOps alert per request)")
	fs.IntVar(&o.entities, "entities", 1000, "distinct entity_ids to spread alerts over (0: every alert a new one)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.clients < 1 || o.entities < 0 || o.duration <= 0 || o.duration > time.Hour {
		return errors.New("-c must be positive, -entities not negative and -d between 0 and 1h")
	}
	o.salt = rand.Uint64()
	res, err := load(context.Background(), o)
	if err != nil {
		return err
	}
	res.print(out, o)
	return nil
}

type result struct {
	ok, failed int64
	alerts     int64
	elapsed    time.Duration
	latencies  []time.Duration
	firstErr   string
}

func (r result) print(w io.Writer, o options) {
	sort.Slice(r.latencies, func(i, j int) bool { return r.latencies[i] < r.latencies[j] })
	pct := func(p float64) time.Duration {
		if len(r.latencies) == 0 {
			return 0
		}
		return r.latencies[int(p*float64(len(r.latencies)-1))]
	}
	secs := r.elapsed.Seconds()
	fmt.Fprintf(w, "clients=%d requests=%d failed=%d elapsed=%s\n", o.clients, r.ok+r.failed, r.failed, r.elapsed.Round(time.Millisecond))
	fmt.Fprintf(w, "requests/s=%.0f alerts/s=%.0f\n", float64(r.ok)/secs, float64(r.alerts)/secs)
	fmt.Fprintf(w, "latency p50=%s p90=%s p99=%s max=%s\n", pct(0.5), pct(0.9), pct(0.99), pct(1))
	if r.firstErr != "" {
		fmt.Fprintln(w, "first error:", r.firstErr)
	}
}

func payload(o options, i int64) []byte {
	if o.batch <= 0 {
		host, _ := o.entity(i)
		return fmt.Appendf(nil, `{"message_type":"CRITICAL","entity_id":"disk-full/%s","entity_display_name":"Disk full on %s","state_message":"97%% used","routing_key":"load","host_name":"%s"}`, host, host, host)
	}
	var b bytes.Buffer
	b.WriteString(`{"version":"4","status":"firing","receiver":"load","groupKey":"load","alerts":[`)
	for k := 0; k < o.batch; k++ {
		if k > 0 {
			b.WriteByte(',')
		}
		host, fp := o.entity(i*int64(o.batch) + int64(k))
		fmt.Fprintf(&b, `{"status":"firing","labels":{"alertname":"HighLatency","instance":"%s:9100","severity":"page"},"annotations":{"summary":"p99 over 1s"},"startsAt":"2026-01-01T00:00:00Z","fingerprint":"%s"}`, host, fp)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

func load(ctx context.Context, o options) (result, error) {
	ctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.clients, MaxConnsPerHost: o.clients}, Timeout: 30 * time.Second}
	var seq, ok, failed, alerts atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	var firstErr string
	perReq := int64(1)
	if o.batch > 0 {
		perReq = int64(o.batch)
	}
	start := time.Now()
	var wg sync.WaitGroup
	for c := 0; c < o.clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := make([]time.Duration, 0, 1024)
			for ctx.Err() == nil {
				i := seq.Add(1)
				if o.requests > 0 && i > int64(o.requests) {
					break
				}
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.url, bytes.NewReader(payload(o, i)))
				if err != nil {
					failed.Add(1)
					continue
				}
				req.Header.Set("Content-Type", "application/json")
				if o.token != "" {
					req.Header.Set("Authorization", "Bearer "+o.token)
				}
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						failed.Add(1)
						mu.Lock()
						if firstErr == "" {
							firstErr = err.Error()
						}
						mu.Unlock()
					}
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode/100 != 2 {
					failed.Add(1)
					mu.Lock()
					if firstErr == "" {
						firstErr = resp.Status + " " + strings.TrimSpace(string(body))
					}
					mu.Unlock()
					continue
				}
				mine = append(mine, time.Since(t0))
				ok.Add(1)
				alerts.Add(perReq)
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return result{ok: ok.Load(), failed: failed.Load(), alerts: alerts.Load(), elapsed: time.Since(start), latencies: lat, firstErr: firstErr}, nil
}
