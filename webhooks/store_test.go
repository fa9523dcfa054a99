package webhooks

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/sitrep/sitrep/storage"
	"github.com/sitrep/sitrep/timeline"
)

const signing = "whsec-0123456789abcdef-7777"

func openDB(t *testing.T, path string) *storage.DB {
	t.Helper()
	db, err := storage.Open(path, storage.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func configHooks() []Hook {
	return []Hook{{Name: "statushub", Event: AnyIncident, URL: "https://hooks.statushub.io/hooks/generic_v2?token=" + hubToken,
		Headers: map[string]string{"Authorization": "Splunk " + hubToken, "X-Team": "ops"}, SigningSecret: signing}}
}

func TestStoreKeepsRedactedSecretsAndRefusesBadLists(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sitrep.db")
	db := openDB(t, path)
	st, err := OpenStore(ctx, db, configHooks(), Options{})
	require.NoError(t, err)
	secretOf := func(name string) string { s, _ := st.Load().Secret(name); return s }
	assert.Equal(t, signing, secretOf("statushub"))

	// What GET shows, sent back with one change, keeps every secret.
	shown := Redact(st.Load().Hooks())
	assert.Equal(t, "https://hooks.statushub.io/hooks/generic_v2?token=****9f3a", shown[0].URL)
	assert.Equal(t, "****7777", shown[0].SigningSecret)
	assert.Equal(t, "****9f3a", shown[0].Headers["Authorization"])
	assert.Equal(t, "ops", shown[0].Headers["X-Team"])
	shown[0].Event = IncidentTriggered
	require.NoError(t, st.Replace(ctx, shown))
	got := st.Load().Hooks()[0]
	assert.Equal(t, configHooks()[0].URL, got.URL)
	assert.Equal(t, "Splunk "+hubToken, got.Headers["Authorization"])
	assert.Equal(t, signing, got.SigningSecret)
	assert.Equal(t, IncidentTriggered, got.Event)

	bad := []struct {
		name  string
		hooks []Hook
		field string
	}{
		{"a redacted URL of another webhook", []Hook{{Name: "new", Event: AnyIncident, URL: shown[0].URL}}, "url"},
		{"a redacted secret that is not the stored one", []Hook{func() Hook { h := shown[0]; h.SigningSecret = "****0000"; return h }()}, "signing_secret"},
		{"a redacted header that is not the stored one", []Hook{func() Hook {
			h := shown[0]
			h.Headers = map[string]string{"Authorization": "****abcd"}
			return h
		}()}, "headers.Authorization"},
		{"an unknown method", []Hook{{Name: "x", Event: AnyIncident, Method: "FETCH", URL: "https://example.com"}}, "method"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			err := st.Replace(ctx, tt.hooks)
			require.Error(t, err)
			fes := FieldErrors(err)
			require.Len(t, fes, 1)
			assert.Equal(t, tt.field, fes[0].Field)
			assert.Equal(t, signing, secretOf("statushub"), "nothing stored: the running webhooks stay")
		})
	}

	// The replaced list survives a restart with the same config.
	require.NoError(t, db.Close())
	db = openDB(t, path)
	st, err = OpenStore(ctx, db, configHooks(), Options{})
	require.NoError(t, err)
	assert.Equal(t, IncidentTriggered, st.Load().Hooks()[0].Event)
	require.NoError(t, db.Close())

	// A changed config seeds its own webhooks again.
	db = openDB(t, path)
	changed := configHooks()
	changed[0].Event = IncidentResolved
	st, err = OpenStore(ctx, db, changed, Options{})
	require.NoError(t, err)
	assert.Equal(t, IncidentResolved, st.Load().Hooks()[0].Event)
	_, ok := st.Load().Secret("nope")
	assert.False(t, ok)
}

func TestAlertCountCountsTheIncidentsAlerts(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, filepath.Join(t.TempDir(), "sitrep.db"))
	s := mustCompile(t, Hook{Name: "count", Event: AnyIncident, URL: "https://example.com/c", Payload: "${{STATE.ALERT_COUNT}} ${{STATE.CURRENT_ALERT_PHASE}}"})
	var q queue
	tl := timeline.New(db, timeline.Options{Dispatch: func(tx *bolt.Tx, inc *timeline.Incident, ev *timeline.Event) (timeline.Dispatched, error) {
		rooms, err := s.Dispatch(tx, &q, inc, ev)
		return timeline.Dispatched{Wake: rooms}, err
	}})
	alert := func(mt, msg string) {
		_, err := tl.Ingest(ctx, []timeline.Alert{{MessageType: mt, EntityID: "db-1",
			Fields: map[string]string{"message_type": mt, "entity_id": "db-1", "state_message": msg}}})
		require.NoError(t, err)
	}
	alert("CRITICAL", "down")
	alert("WARNING", "degraded") // updated
	alert("WARNING", "degraded") // repeated
	alert("ACKNOWLEDGEMENT", "")
	_, err := tl.Ingest(ctx, []timeline.Alert{{MessageType: "CRITICAL", EntityID: "other", Fields: map[string]string{"entity_id": "other"}}})
	require.NoError(t, err)
	var bodies []string
	for _, r := range q.requests(t) {
		bodies = append(bodies, r.Body)
	}
	assert.Equal(t, []string{"1 UNACKED", "3 ACKED", "1 UNACKED"}, bodies, "each incident counts its own alerts")
}
