package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sitrep/sitrep/storage"
	"github.com/sitrep/sitrep/timeline"
)

const token = "test-ingest-token-0123456789"

type fixture struct {
	srv *httptest.Server
	tl  *timeline.Timeline
	s   *Server
}

func newFixture(t *testing.T, sink Sink) *fixture {
	t.Helper()
	db, err := storage.Open(filepath.Join(t.TempDir(), "sitrep.db"), storage.Options{NoSync: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	tl := timeline.New(db, timeline.Options{})
	if sink == nil {
		sink = tl
	}
	mux := http.NewServeMux()
	s := New(Options{Token: token, Sink: sink, Metrics: prometheus.NewRegistry(), NewID: fixedID})
	s.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &fixture{srv: srv, tl: tl, s: s}
}

type response struct {
	code int
	body map[string]any
}

func (f *fixture) post(t *testing.T, path, auth, contentType, body string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.srv.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	assert.Equal(t, "application/json; charset=utf-8", res.Header.Get("Content-Type"))
	assert.Equal(t, "nosniff", res.Header.Get("X-Content-Type-Options"))
	assert.Equal(t, "no-store", res.Header.Get("Cache-Control"))
	var out map[string]any
	require.NoError(t, json.Unmarshal(raw, &out), "body %s", raw)
	return response{code: res.StatusCode, body: out}
}

func (f *fixture) incidents(t *testing.T) []timeline.Incident {
	t.Helper()
	var all []timeline.Incident
	for _, s := range []timeline.State{timeline.StateTriggered, timeline.StateAcknowledged, timeline.StateResolved} {
		incs, err := f.tl.Incidents(s, 1000)
		require.NoError(t, err)
		all = append(all, incs...)
	}
	return all
}

func TestAlertAccepted(t *testing.T) {
	f := newFixture(t, nil)
	r := f.post(t, PathAlerts, "Bearer "+token, "application/json",
		`{"message_type":"critical","entity_id":"disk/db-1","entity_display_name":"Disk full","routing_key":"payments"}`)
	require.Equal(t, http.StatusAccepted, r.code, r.body)
	assert.Equal(t, "disk/db-1", r.body["entity_id"])
	assert.Equal(t, "triggered", r.body["state"])
	assert.Equal(t, true, r.body["created"])
	id := uint64(r.body["incident_id"].(float64))

	// The reply came after the commit: the incident is readable now.
	inc, events, err := f.tl.Incident(id)
	require.NoError(t, err)
	assert.Equal(t, "payments", inc.Fields["routing_key"])
	require.Len(t, events, 1)

	// Token in the query string; content type with parameters; same entity updates the incident.
	r = f.post(t, PathAlerts+"?token="+token, "", "application/json; charset=utf-8", `{"message_type":"ACKNOWLEDGEMENT","entity_id":"disk/db-1","ack_author":"ana"}`)
	require.Equal(t, http.StatusAccepted, r.code, r.body)
	assert.Equal(t, float64(id), r.body["incident_id"])
	assert.Equal(t, "acknowledged", r.body["state"])
	assert.Equal(t, false, r.body["created"])

	// No entity_id: one is generated and returned.
	r = f.post(t, PathAlerts, "Bearer "+token, "", `{"message_type":"WARNING"}`)
	require.Equal(t, http.StatusAccepted, r.code, r.body)
	assert.Equal(t, "generated-id", r.body["entity_id"])

	// A recovery for an entity never seen is accepted but changes nothing, and says why.
	r = f.post(t, PathAlerts, "Bearer "+token, "", `{"message_type":"RECOVERY","entity_id":"never-seen"}`)
	require.Equal(t, http.StatusAccepted, r.code, r.body)
	assert.NotEmpty(t, r.body["ignored"])
	assert.Nil(t, r.body["incident_id"])
	assert.Len(t, f.incidents(t), 2)

	assert.Equal(t, 4.0, testutil.ToFloat64(f.s.alerts.WithLabelValues("alerts")))
	assert.Equal(t, 4.0, testutil.ToFloat64(f.s.requests.WithLabelValues("alerts", "202")))
}

func TestAlertmanagerAccepted(t *testing.T) {
	f := newFixture(t, nil)
	body := `{"version":"4","receiver":"payments","status":"firing","alerts":[
	  {"status":"firing","labels":{"alertname":"DiskFull","instance":"db-1"},"annotations":{"summary":"Disk full"},"fingerprint":"aa01"},
	  {"status":"firing","labels":{"alertname":"CPU","instance":"db-2"},"fingerprint":"aa02"}]}`
	r := f.post(t, PathAlertmanager, "Bearer "+token, "application/json", body)
	require.Equal(t, http.StatusAccepted, r.code, r.body)
	assert.Equal(t, 2.0, r.body["alerts"])
	results := r.body["results"].([]any)
	require.Len(t, results, 2)
	assert.Equal(t, "aa01", results[0].(map[string]any)["entity_id"])

	resolved := strings.ReplaceAll(body, `"status":"firing","labels":{"alertname":"DiskFull"`, `"status":"resolved","labels":{"alertname":"DiskFull"`)
	r = f.post(t, PathAlertmanager, "Bearer "+token, "application/json", resolved)
	require.Equal(t, http.StatusAccepted, r.code, r.body)
	first := r.body["results"].([]any)[0].(map[string]any)
	assert.Equal(t, "resolved", first["state"])
	assert.Len(t, f.incidents(t), 2, "the same fingerprints update the same incidents")
}

func TestBadRequests(t *testing.T) {
	good := `{"message_type":"CRITICAL","entity_id":"x"}`
	tests := []struct {
		name, path, auth, ctype, body string
		code                          int
		field, msg                    string
	}{
		{"no token", PathAlerts, "", "application/json", good, 401, "token", "token"},
		{"wrong token", PathAlerts, "Bearer nope", "application/json", good, 401, "token", "token"},
		{"token prefix only", PathAlerts, "Bearer " + token[:10], "application/json", good, 401, "token", "token"},
		{"basic auth scheme", PathAlerts, "Basic " + token, "application/json", good, 401, "token", "token"},
		{"form content type", PathAlerts, "Bearer " + token, "application/x-www-form-urlencoded", good, 415, "Content-Type", "application/json"},
		{"text content type", PathAlertmanager, "Bearer " + token, "text/plain", good, 415, "Content-Type", "application/json"},
		{"invalid JSON", PathAlerts, "Bearer " + token, "application/json", `{"message_type":`, 400, "", "invalid JSON"},
		{"not an object", PathAlerts, "Bearer " + token, "application/json", `["CRITICAL"]`, 400, "", "invalid JSON"},
		{"missing message_type", PathAlerts, "Bearer " + token, "application/json", `{"entity_id":"x"}`, 400, "message_type", "required"},
		{"unknown message_type", PathAlerts, "Bearer " + token, "application/json", `{"message_type":"DOWN"}`, 400, "message_type", "DOWN"},
		{"body over 1 MiB", PathAlerts, "Bearer " + token, "application/json", `{"message_type":"INFO","x":"` + strings.Repeat("a", MaxBody) + `"}`, 413, "", "1 MiB"},
		{"alertmanager wrong version", PathAlertmanager, "Bearer " + token, "application/json", `{"version":"2","alerts":[]}`, 400, "version", "version"},
		{"entity_id too long", PathAlerts, "Bearer " + token, "application/json", `{"message_type":"CRITICAL","entity_id":"` + strings.Repeat("e", 1025) + `"}`, 400, "entity_id", "longer than 1024"},
		{"fingerprint too long", PathAlertmanager, "Bearer " + token, "application/json", `{"version":"4","alerts":[{"status":"firing","labels":{"a":"b"},"fingerprint":"` + strings.Repeat("f", 1025) + `"}]}`, 400, "alerts[0].fingerprint", "longer than 1024"},
		{"alertmanager bad status", PathAlertmanager, "Bearer " + token, "application/json", `{"version":"4","alerts":[{"status":"on","labels":{"a":"b"}}]}`, 400, "alerts[0].status", "firing"},
		{"a NUL in a value", PathAlerts, "Bearer " + token, "application/json", `{"message_type":"CRITICAL","entity_id":"n","host":"db\u00001"}`, 400, "host", "NUL"},
		{"a NUL in a name", PathAlerts, "Bearer " + token, "application/json", `{"message_type":"CRITICAL","ho\u0000st":"db"}`, 400, `ho\u0000st`, "NUL"},
		{"a key given twice", PathAlerts, "Bearer " + token, "application/json", `{"message_type":"CRITICAL","entity_id":"a","entity_id":"b"}`, 400, "entity_id", "given twice"},
		{"a label given twice", PathAlertmanager, "Bearer " + token, "application/json", `{"version":"4","alerts":[{"status":"firing","labels":{"a":"b","a":"c"}}]}`, 400, "alerts[0].labels.a", "given twice"},
		{"an annotation given twice", PathAlertmanager, "Bearer " + token, "application/json", `{"version":"4","alerts":[{"status":"firing","labels":{"a":"b"},"annotations":{"s":"1","s":"2"}}]}`, 400, "alerts[0].annotations.s", "given twice"},
		{"a NUL in a label", PathAlertmanager, "Bearer " + token, "application/json", `{"version":"4","alerts":[{"status":"firing","labels":{"a":"b\u0000"}}]}`, 400, "alerts[0].labels.a", "NUL"},
		{"a field bomb", PathAlerts, "Bearer " + token, "application/json", fieldBomb(300, 4), 422, "body", "the limit is 256"},
		{"an alert over 64 KiB of fields", PathAlerts, "Bearer " + token, "application/json", fieldBomb(10, 8000), 422, "body", "the limit is 65536"},
		{"an Alertmanager label bomb", PathAlertmanager, "Bearer " + token, "application/json", labelBomb(300), 422, "alerts[1].labels", "the limit is 256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil)
			r := f.post(t, tt.path, tt.auth, tt.ctype, tt.body)
			assert.Equal(t, tt.code, r.code)
			assert.Contains(t, r.body["error"], tt.msg)
			if tt.field != "" {
				assert.Equal(t, tt.field, r.body["field"])
			}
			assert.NotContains(t, r.body["error"], token, "the token is never echoed")
			assert.Empty(t, f.incidents(t), "nothing is written")
		})
	}
}

// failingSink stands in for a store that cannot commit.
type failingSink struct{ err error }

func (s failingSink) Ingest(context.Context, []timeline.Alert) ([]timeline.Result, error) {
	return nil, s.err
}

func TestCommitFailureIsNotAccepted(t *testing.T) {
	for _, err := range []error{storage.ErrClosed, context.Canceled, errors.New("disk full")} {
		f := newFixture(t, failingSink{err: err})
		r := f.post(t, PathAlerts, "Bearer "+token, "application/json", `{"message_type":"CRITICAL","entity_id":"x"}`)
		assert.Equal(t, http.StatusServiceUnavailable, r.code, "%v", err)
		assert.Contains(t, r.body["error"], "retry")
	}
}

func TestWrongMethod(t *testing.T) {
	f := newFixture(t, nil)
	res, err := http.Get(f.srv.URL + PathAlerts)
	require.NoError(t, err)
	defer res.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, res.StatusCode)
}

func BenchmarkIngestHandler(b *testing.B) {
	db, err := storage.Open(filepath.Join(b.TempDir(), "sitrep.db"), storage.Options{})
	require.NoError(b, err)
	defer db.Close()
	s := New(Options{Token: token, Sink: timeline.New(db, timeline.Options{})})
	mux := http.NewServeMux()
	s.Register(mux)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			body := `{"message_type":"CRITICAL","entity_id":"e-` + strings.Repeat("x", i%7) + `","state_message":"down"}`
			req := httptest.NewRequest(http.MethodPost, PathAlerts, strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+token)
			w := httptest.NewRecorder()
			mux.ServeHTTP(w, req)
			if w.Code != http.StatusAccepted {
				b.Fatalf("status %d: %s", w.Code, w.Body)
			}
		}
	})
}

func TestAlertReplyEncoding(t *testing.T) {
	for _, a := range []alertReply{
		{},
		{IncidentID: 42, EntityID: `disk "db-1" <main>`, EventID: 7, State: "triggered", Created: true},
		{EntityID: "never-seen\u2028", Ignored: "no incident for entity_id never-seen"},
	} {
		want, err := json.Marshal(a)
		require.NoError(t, err)
		assert.Equal(t, string(want), string(a.appendJSON(nil)))
	}
}

func TestOddTimesAreTakenAsReceipt(t *testing.T) {
	f := newFixture(t, nil)
	r := f.post(t, PathAlertmanager, "Bearer "+token, "application/json",
		`{"version":"4","alerts":[{"status":"firing","labels":{"a":"b"},"startsAt":"9999-12-31T23:00:00-23:00","fingerprint":"odd"}]}`)
	require.Equal(t, http.StatusAccepted, r.code, "a time too far off to be meant is no reason to refuse an alert: %v", r.body)
}

// fieldBomb is a VictorOps alert with n extra fields of size bytes each.
func fieldBomb(n, size int) string {
	var b strings.Builder
	b.WriteString(`{"message_type":"CRITICAL","entity_id":"bomb"`)
	for i := range n {
		fmt.Fprintf(&b, `,"f%d":"%s"`, i, strings.Repeat("x", size))
	}
	return b.String() + "}"
}

// labelBomb is an Alertmanager notification whose second alert has n labels.
func labelBomb(n int) string {
	var b strings.Builder
	b.WriteString(`{"version":"4","alerts":[{"status":"firing","labels":{"a":"b"}},{"status":"firing","labels":{"a":"b"`)
	for i := range n {
		fmt.Fprintf(&b, `,"l%d":"v"`, i)
	}
	return b.String() + "}}]}"
}
