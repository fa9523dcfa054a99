package bot

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sitrep/sitrep/ingest"
)

// Environment of a child null server started by startNullServer.
const childNullEnv = "SITREP_TEST_CHILD_NULL"

// TestChildNullServe is not a test: it is the body of the null server the
// ingest benchmarks compare sitrep with. It reads and decodes each request
// with sitrep's decoders, under sitrep's GC setting, and answers 202 with a
// reply of sitrep's size, storing nothing. It prints "listening <addr>".
func TestChildNullServe(t *testing.T) {
	if os.Getenv(childNullEnv) == "" {
		t.Skip("only runs as a child of the ingest benchmarks")
	}
	debug.SetGCPercent(GCPercent)
	bufs := sync.Pool{New: func() any { return new(bytes.Buffer) }}
	handle := func(decode func([]byte) error) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			buf := bufs.Get().(*bytes.Buffer)
			defer bufs.Put(buf)
			buf.Reset()
			_, err := buf.ReadFrom(io.LimitReader(r.Body, ingest.MaxBody+1))
			if err == nil {
				err = decode(buf.Bytes())
			}
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusAccepted)
			_, _ = io.WriteString(w, `{"incident_id":1,"entity_id":"disk-full/db-0123456789ab.eu-west-1.prod.example.net","event_id":1,"state":"triggered","created":true}`+"\n")
		}
	}
	mux := http.NewServeMux()
	mux.Handle("POST "+ingest.PathAlerts, handle(func(b []byte) error { _, err := ingest.DecodeAlert(b, time.Now(), nil); return err }))
	mux.Handle("POST "+ingest.PathAlertmanager, handle(func(b []byte) error { _, err := ingest.DecodeAlertmanager(b, time.Now()); return err }))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.Exit(2)
	}
	fmt.Printf("listening %s\n", ln.Addr())
	_ = http.Serve(ln, mux)
	os.Exit(0)
}

// startNullServer runs the null server in its own process.
func startNullServer(t testing.TB) target {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildNullServe$", "-test.count=1")
	cmd.Env = append(os.Environ(), childNullEnv+"=1")
	cmd.Stderr = os.Stderr
	url := "http://" + startListening(t, cmd)
	return target{url: url, pid: cmd.Process.Pid}
}

// target is the child as a server under test.
func (c *child) target() target { return target{url: c.URL, pid: c.cmd.Process.Pid} }

// startListening starts cmd and returns the address it prints as "listening <addr>".
func startListening(t testing.TB, cmd *exec.Cmd) string {
	t.Helper()
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
				addr <- a
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case a := <-addr:
		return a
	case <-time.After(30 * time.Second):
		t.Fatal("child server did not start")
		return ""
	}
}

// startAlertmanager runs Prometheus Alertmanager (Debian's
// prometheus-alertmanager, or alertmanager on $PATH) with one receiver that
// sends nothing and no clustering, and returns its base URL once it is ready.
// It skips the benchmark when Alertmanager is not installed.
func startAlertmanager(t testing.TB) target {
	t.Helper()
	bin := ""
	for _, name := range []string{"prometheus-alertmanager", "alertmanager"} {
		if p, err := exec.LookPath(name); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		t.Skip("Alertmanager is not installed (apt-get install prometheus-alertmanager)")
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "alertmanager.yml")
	require.NoError(t, os.WriteFile(cfg, []byte("route:\n  receiver: none\nreceivers:\n  - name: none\n"), 0o600))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	cmd := exec.Command(bin, "--config.file="+cfg, "--storage.path="+dir, "--web.listen-address="+addr,
		"--cluster.listen-address=", "--log.level=warn")
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	url := "http://" + addr
	require.Eventually(t, func() bool {
		res, err := http.Get(url + "/-/ready")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	}, 30*time.Second, 20*time.Millisecond, "alertmanager did not get ready")
	return target{url: url, pid: cmd.Process.Pid}
}
