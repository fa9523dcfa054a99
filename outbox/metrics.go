package outbox

import (
	"errors"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	delivered *prometheus.CounterVec
	failures  *prometheus.CounterVec
	dead      prometheus.Counter
	latency   *prometheus.HistogramVec
}

// newMetrics builds the outbox metrics and registers them with reg (if not
// nil). A collector already registered (a second Outbox on one registry) is
// reused rather than a panic; the pending gauge then keeps reading the first.
func newMetrics(reg prometheus.Registerer, pending func() float64, log *slog.Logger) *metrics {
	m := &metrics{
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sitrep_outbox_delivered_total",
			Help: "Outbox entries delivered to a chat platform (each entry in a digest counts).",
		}, []string{"platform"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sitrep_outbox_failures_total",
			Help: "Failed delivery attempts by kind: transient, rate_limited, permanent, unresolved.",
		}, []string{"platform", "kind"}),
		dead: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sitrep_outbox_dead_total",
			Help: "Outbox entries moved to the dead letters.",
		}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sitrep_outbox_delivery_seconds",
			Help:    "Time from enqueue to delivery of an outbox entry.",
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600},
		}, []string{"platform"}),
	}
	if reg == nil {
		return m
	}
	m.delivered = register(reg, m.delivered, log)
	m.failures = register(reg, m.failures, log)
	m.dead = register(reg, m.dead, log)
	m.latency = register(reg, m.latency, log)
	register(reg, prometheus.Collector(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "sitrep_outbox_pending",
		Help: "Outbox entries waiting for delivery, all rooms.",
	}, pending)), log)
	return m
}

func register[T prometheus.Collector](reg prometheus.Registerer, c T, log *slog.Logger) T {
	err := reg.Register(c)
	if err == nil {
		return c
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(T); ok {
			return existing
		}
	}
	log.Warn("outbox metric not registered", "err", err)
	return c
}
