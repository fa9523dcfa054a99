package ingest

import (
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLabelsFingerprintIsPrometheus(t *testing.T) {
	for _, tc := range []struct {
		labels map[string]string
		want   string // what sitrep's own copy of the hash gave
	}{
		{nil, "cbf29ce484222325"},
		{map[string]string{}, "cbf29ce484222325"},
		{map[string]string{"alertname": "HighLatency"}, "73dbeed5635ea4e4"},
		{map[string]string{"alertname": "HighLatency", "instance": "web-1:9100", "job": "node", "severity": "page"}, "a597559b6309fd32"},
		{map[string]string{"": ""}, "0a99c907b6f64763"},
		{map[string]string{"a": ""}, "e57e2e1903df23e2"},
		{map[string]string{"": "a"}, "f7de341be303fae6"},
		{map[string]string{"ab": "c", "a": "bc"}, "39cb834e3371a38b"},
		{map[string]string{"é": "☕", "名前": "値", "emoji": "🔥", "zwj": "\u200d"}, "ccd98bae92d79bcc"},
		{map[string]string{"bad": "\xff\xfe", "nul": "\x00", "sep": "\xff"}, "aabc717e63e62c27"},
	} {
		ls := model.LabelSet{}
		for n, v := range tc.labels {
			ls[model.LabelName(n)] = model.LabelValue(v)
		}
		got := labelsFingerprint(tc.labels)
		assert.Equal(t, ls.Fingerprint().String(), got, "%q", tc.labels)
		assert.Equal(t, tc.want, got, "%q", tc.labels)
	}
}

func TestAlertmanagerEntityIsLabelsFingerprint(t *testing.T) {
	body := `{"version":"4","alerts":[{"status":"firing","labels":{"alertname":"DiskFull","instance":"db-1","名前":"値"},
		"annotations":{"summary":"Disk full"},"startsAt":"2026-11-23T08:00:00Z"}]}`
	alerts, err := DecodeAlertmanager([]byte(body), time.Date(2026, 11, 23, 8, 1, 0, 0, time.UTC))
	require.NoError(t, err)
	require.Len(t, alerts, 1)
	want := model.LabelSet{"alertname": "DiskFull", "instance": "db-1", "名前": "値"}.Fingerprint().String()
	assert.Equal(t, want, alerts[0].EntityID, "the labels' fingerprint, annotations and added fields aside")
}
