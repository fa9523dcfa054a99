// Package ingest takes alerts in over HTTP: Splunk On-Call (VictorOps) REST
// alerts on POST /v1/alerts and Prometheus Alertmanager webhooks on
// POST /v1/hooks/alertmanager. A request is answered 202 only once its alerts
// are committed to the timeline; anything wrong with it gets a 4xx whose JSON
// body names the problem, and nothing is written.
package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sitrep/sitrep/httpjson"
	"github.com/sitrep/sitrep/jsonenc"
	"github.com/sitrep/sitrep/secret"
	"github.com/sitrep/sitrep/timeline"
)

// Paths the server registers.
const (
	PathAlerts       = "/v1/alerts"
	PathAlertmanager = "/v1/hooks/alertmanager"
)

// Sink commits decoded alerts; *timeline.Timeline is one.
type Sink interface {
	Ingest(ctx context.Context, alerts []timeline.Alert) ([]timeline.Result, error)
}

// IsPath reports whether path is one of the ingest endpoints.
func IsPath(path string) bool { return path == PathAlerts || path == PathAlertmanager }

// Options configure a Server.
type Options struct {
	Token   string                // required on every request, as a Bearer token or ?token=
	Sink    Sink                  // where decoded alerts go
	Logger  *slog.Logger          // default slog.Default()
	Metrics prometheus.Registerer // may be nil
	Now     func() time.Time      // default time.Now
	NewID   func() string         // entity IDs for alerts without one; default NewID
	// MaxFields caps the fields (labels and annotations) one alert may
	// carry; default DefaultMaxFields.
	MaxFields int
	// MaxAlertBytes caps the bytes of one alert's field names and values;
	// default DefaultMaxAlertBytes.
	MaxAlertBytes int
}

// Default caps on one alert: an alert beyond them is refused with 422, not
// stored and sent whole to every room.
const (
	DefaultMaxFields     = 256
	DefaultMaxAlertBytes = 64 << 10
)

// Server is the ingest HTTP handler set.
type Server struct {
	opts     Options
	log      *slog.Logger
	requests *prometheus.CounterVec
	alerts   *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	bufs     sync.Pool
}

// New returns a Server. It registers its metrics with opts.Metrics.
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.NewID == nil {
		opts.NewID = NewID
	}
	s := &Server{
		opts: opts,
		log:  opts.Logger,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sitrep_ingest_requests_total",
			Help: "Ingest requests by endpoint and HTTP status code.",
		}, []string{"endpoint", "code"}),
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sitrep_ingest_alerts_total",
			Help: "Alerts committed to the timeline, by endpoint.",
		}, []string{"endpoint"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sitrep_ingest_duration_seconds",
			Help:    "Time from request to reply, including the durable commit.",
			Buckets: []float64{.0005, .001, .002, .003, .005, .01, .025, .05, .1, .25, 1},
		}, []string{"endpoint"}),
		bufs: sync.Pool{New: func() any { return new(bytes.Buffer) }},
	}
	if opts.Metrics != nil {
		for _, c := range []prometheus.Collector{s.requests, s.alerts, s.latency} {
			if err := opts.Metrics.Register(c); err != nil {
				s.log.Warn("ingest metrics not registered", "err", err)
			}
		}
	}
	return s
}

// Register adds the ingest endpoints to mux.
func (s *Server) Register(mux *http.ServeMux) {
	mux.Handle("POST "+PathAlerts, s.endpoint("alerts", s.alert))
	mux.Handle("POST "+PathAlertmanager, s.endpoint("alertmanager", s.alertmanager))
}

// reply is what an endpoint answers: a status and a JSON body.
type reply struct {
	code int
	body any
}

// fail is a 4xx or 5xx reply: every one has an httpjson.ErrorBody.
func fail(code int, field, msg string) reply {
	return reply{code: code, body: httpjson.ErrorBody{Error: msg, Field: field}}
}

// endpoint wraps a decoder-and-commit function with auth, content type and
// body-size checks, metrics and the JSON reply.
func (s *Server) endpoint(name string, handle func(ctx context.Context, body []byte) reply) http.Handler {
	latency := s.latency.WithLabelValues(name)
	accepted := s.requests.WithLabelValues(name, "202")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rep := s.serve(r, handle)
		if rep.code == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="sitrep"`)
		}
		if a, ok := rep.body.(alertReply); ok { // the hot path: no reflection
			httpjson.WriteRaw(w, rep.code, append(a.appendJSON(make([]byte, 0, 128)), '\n'))
		} else {
			httpjson.Write(w, rep.code, rep.body)
		}
		if rep.code == http.StatusAccepted {
			accepted.Inc()
		} else {
			s.requests.WithLabelValues(name, strconv.Itoa(rep.code)).Inc()
		}
		latency.Observe(time.Since(start).Seconds())
	})
}

func (s *Server) serve(r *http.Request, handle func(ctx context.Context, body []byte) reply) reply {
	if !s.authorized(r) {
		return fail(http.StatusUnauthorized, "token", "missing or wrong token: send it as \"Authorization: Bearer <token>\" or ?token=")
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return fail(http.StatusUnsupportedMediaType, "Content-Type", "Content-Type must be application/json")
		}
	}
	buf := s.bufs.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= 2*MaxBody {
			buf.Reset()
			s.bufs.Put(buf)
		}
	}()
	buf.Reset()
	if _, err := buf.ReadFrom(io.LimitReader(r.Body, MaxBody+1)); err != nil {
		return fail(http.StatusBadRequest, "", "could not read the request body")
	}
	if buf.Len() > MaxBody {
		return fail(http.StatusRequestEntityTooLarge, "", "request body is larger than 1 MiB")
	}
	return handle(r.Context(), buf.Bytes())
}

// authorized checks the token in constant time. Either form is accepted.
func (s *Server) authorized(r *http.Request) bool {
	if r.Header.Get("Authorization") != "" { // a header, if sent, is the one that counts
		got, _ := secret.Bearer(r)
		return secret.Equal(got, s.opts.Token)
	}
	return r.URL.RawQuery != "" && secret.Equal(r.URL.Query().Get("token"), s.opts.Token)
}

// alertReply is the 202 body of POST /v1/alerts.
type alertReply struct {
	IncidentID uint64 `json:"incident_id,omitempty"`
	EntityID   string `json:"entity_id"`
	EventID    uint64 `json:"event_id,omitempty"`
	State      string `json:"state,omitempty"`
	Created    bool   `json:"created"`
	Ignored    string `json:"ignored,omitempty"`
}

// appendJSON appends a as encoding/json would encode it.
func (a alertReply) appendJSON(b []byte) []byte {
	b = append(b, '{')
	if a.IncidentID != 0 {
		b = append(b, `"incident_id":`...)
		b = strconv.AppendUint(b, a.IncidentID, 10)
		b = append(b, ',')
	}
	b = append(b, `"entity_id":`...)
	b = jsonenc.AppendString(b, a.EntityID)
	if a.EventID != 0 {
		b = append(b, `,"event_id":`...)
		b = strconv.AppendUint(b, a.EventID, 10)
	}
	if a.State != "" {
		b = append(b, `,"state":`...)
		b = jsonenc.AppendString(b, a.State)
	}
	b = append(b, `,"created":`...)
	b = strconv.AppendBool(b, a.Created)
	if a.Ignored != "" {
		b = append(b, `,"ignored":`...)
		b = jsonenc.AppendString(b, a.Ignored)
	}
	return append(b, '}')
}

func replyFor(r timeline.Result, entity string) alertReply {
	if r.Ignored != "" {
		return alertReply{EntityID: entity, Ignored: r.Ignored}
	}
	return alertReply{
		IncidentID: r.Incident.ID,
		EntityID:   r.Incident.EntityID,
		EventID:    r.Event.ID,
		State:      string(r.Incident.State),
		Created:    r.Created,
	}
}

func (s *Server) alert(ctx context.Context, body []byte) reply {
	a, err := DecodeAlert(body, s.opts.Now(), s.opts.NewID)
	if err != nil {
		return decodeFailure(err)
	}
	if r, over := s.tooBig(a, "body"); over {
		return r
	}
	results, err := s.commit(ctx, []timeline.Alert{a})
	if err != nil {
		return s.commitFailure(err)
	}
	s.alerts.WithLabelValues("alerts").Inc()
	return reply{code: http.StatusAccepted, body: replyFor(results[0], a.EntityID)}
}

// alertmanagerReply is the 202 body of POST /v1/hooks/alertmanager.
type alertmanagerReply struct {
	Alerts  int          `json:"alerts"`
	Results []alertReply `json:"results"`
}

func (s *Server) alertmanager(ctx context.Context, body []byte) reply {
	alerts, err := DecodeAlertmanager(body, s.opts.Now())
	if err != nil {
		return decodeFailure(err)
	}
	for i, a := range alerts {
		if r, over := s.tooBig(a, alertPath(i, "labels")); over {
			return r
		}
	}
	results, err := s.commit(ctx, alerts)
	if err != nil {
		return s.commitFailure(err)
	}
	s.alerts.WithLabelValues("alertmanager").Add(float64(len(alerts)))
	out := alertmanagerReply{Alerts: len(alerts), Results: make([]alertReply, len(results))}
	for i, r := range results {
		out.Results[i] = replyFor(r, alerts[i].EntityID)
	}
	return reply{code: http.StatusAccepted, body: out}
}

// tooBig refuses an alert over the field caps, naming field.
func (s *Server) tooBig(a timeline.Alert, field string) (reply, bool) {
	maxFields, maxBytes := s.opts.MaxFields, s.opts.MaxAlertBytes
	if maxFields <= 0 {
		maxFields = DefaultMaxFields
	}
	if maxBytes <= 0 {
		maxBytes = DefaultMaxAlertBytes
	}
	if len(a.Fields) > maxFields {
		return fail(http.StatusUnprocessableEntity, field, fmt.Sprintf("%s: %d fields; the limit is %d an alert", field, len(a.Fields), maxFields)), true
	}
	n := 0
	for k, v := range a.Fields {
		n += len(k) + len(v)
	}
	if n > maxBytes {
		return fail(http.StatusUnprocessableEntity, field, fmt.Sprintf("%s: %d bytes of fields; the limit is %d an alert", field, n, maxBytes)), true
	}
	return reply{}, false
}

func (s *Server) commit(ctx context.Context, alerts []timeline.Alert) ([]timeline.Result, error) {
	results, err := s.opts.Sink.Ingest(ctx, alerts)
	if err == nil && len(results) != len(alerts) {
		err = errors.New("timeline returned a result count that does not match the alerts")
	}
	return results, err
}

func decodeFailure(err error) reply {
	var fe *FieldError
	if errors.As(err, &fe) {
		return fail(http.StatusBadRequest, fe.Field, fe.Error())
	}
	var se *SyntaxError
	if errors.As(err, &se) {
		return fail(http.StatusBadRequest, "", se.Error())
	}
	return fail(http.StatusBadRequest, "", err.Error())
}

// commitFailure answers a request whose alerts could not be committed: the
// client should retry, so it is a 503, never a 2xx.
func (s *Server) commitFailure(err error) reply {
	var invalid *timeline.InvalidError
	if errors.As(err, &invalid) { // retrying cannot help: a 4xx
		return fail(http.StatusUnprocessableEntity, invalid.Field, invalid.Error())
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fail(http.StatusServiceUnavailable, "", "request cancelled before the alert was stored; retry")
	}
	s.log.Error("commit alerts", "err", err)
	return fail(http.StatusServiceUnavailable, "", "alert not stored; retry")
}
