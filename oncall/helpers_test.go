package oncall

import (
	"slices"
	"testing"
	"time"
)

// reportP99 reports the 99th percentile of lat as p99-ns/op.
func reportP99(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns/op")
}
