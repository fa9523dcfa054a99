package timeline

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/sitrep/sitrep/storage"
)

// fingerprint is a random 16-hex-digit entity_id, as Alertmanager sends.
func fingerprint() string { return fmt.Sprintf("%016x", rand.Uint64()) }

// openIncidents counts each entity's open incidents.
func openIncidents(t *testing.T, tl *Timeline) map[string]int {
	t.Helper()
	all, err := tl.Incidents("", 0)
	require.NoError(t, err)
	n := map[string]int{}
	for _, inc := range all {
		if inc.Open() {
			n[inc.EntityID]++
		}
	}
	return n
}

// The index is right however the hashes fall: with every entity in one
// hash slot (mask 0) as with none sharing one; across a reopen; and for
// alerts of one new entity that share a group commit, from one request or
// from many.
func TestEntityIndex(t *testing.T) {
	for _, tc := range []struct {
		name string
		mask uint64
	}{{"distinct hashes", ^uint64(0)}, {"every entity collides", 0}} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "sitrep.db")
			db, err := storage.Open(path, storage.Options{NoSync: true})
			require.NoError(t, err)
			tl := New(db, Options{})
			tl.ix.mask = tc.mask
			ctx := context.Background()
			entities := make([]string, 8)
			for i := range entities {
				entities[i] = fingerprint()
			}

			// One request with two alerts for each new entity: one incident each.
			var batch []Alert
			for _, e := range entities {
				batch = append(batch, alert(MsgCritical, e), alert(MsgWarning, e))
			}
			res, err := tl.Ingest(ctx, batch)
			require.NoError(t, err)
			for i := 0; i < len(res); i += 2 {
				assert.True(t, res[i].Created)
				assert.False(t, res[i+1].Created)
				assert.Equal(t, res[i].Incident.ID, res[i+1].Incident.ID)
			}

			// Many requests at once for a few new entities, in shared group commits.
			burst := []string{fingerprint(), fingerprint(), fingerprint()}
			var wg sync.WaitGroup
			for i := range 60 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := tl.Ingest(ctx, []Alert{alert(MsgCritical, burst[i%len(burst)])})
					assert.NoError(t, err)
				}()
			}
			wg.Wait()
			for e, n := range openIncidents(t, tl) {
				assert.Equal(t, 1, n, "open incidents of %s", e)
			}

			// Resolve one, then a new alert opens a second incident for it.
			res, err = tl.Ingest(ctx, []Alert{alert(MsgRecovery, entities[0]), alert(MsgCritical, entities[0])})
			require.NoError(t, err)
			first := res[0].Incident.ID
			assert.Equal(t, KindResolved, res[0].Event.Kind)
			assert.True(t, res[1].Created)
			second := res[1].Incident.ID
			assert.NotEqual(t, first, second)

			// After a reopen the rebuilt index knows every entity's latest incident.
			latest := map[string]uint64{}
			for _, r := range res {
				latest[r.Incident.EntityID] = r.Incident.ID
			}
			all, err := tl.Incidents("", 0)
			require.NoError(t, err)
			for _, inc := range all {
				if _, ok := latest[inc.EntityID]; !ok {
					latest[inc.EntityID] = inc.ID
				}
			}
			require.NoError(t, db.Close())
			db, err = storage.Open(path, storage.Options{NoSync: true})
			require.NoError(t, err)
			defer db.Close()
			tl = New(db, Options{})
			tl.ix.mask = tc.mask
			require.NoError(t, db.View(func(tx *bolt.Tx) error { tl.ix.built = false; return tl.ix.build(tx) }))
			for e, id := range latest {
				res, err := tl.Ingest(ctx, []Alert{alert(MsgInfo, e)})
				require.NoError(t, err)
				assert.Equal(t, id, res[0].Incident.ID, e)
			}
			res, err = tl.Ingest(ctx, []Alert{alert(MsgInfo, fingerprint())})
			require.NoError(t, err)
			assert.NotEmpty(t, res[0].Ignored, "an entity never seen has no incident")
		})
	}
}

// A write that rolls back leaves nothing in the index: the entity it opened
// an incident for is new again to the next alert.
func TestEntityIndexForgetsARolledBackIncident(t *testing.T) {
	boom := errors.New("boom")
	fail := true
	tl, _ := newTimeline(t, Options{Dispatch: func(_ *bolt.Tx, inc *Incident, _ *Event) (Dispatched, error) {
		if fail && inc.EntityID == "web-1" {
			return Dispatched{}, boom
		}
		return Dispatched{}, nil
	}})
	ctx := context.Background()
	_, err := tl.Ingest(ctx, []Alert{alert(MsgCritical, "db-1"), alert(MsgCritical, "web-1")})
	require.ErrorIs(t, err, boom)
	fail = false
	res, err := tl.Ingest(ctx, []Alert{alert(MsgInfo, "db-1"), alert(MsgCritical, "web-1")})
	require.NoError(t, err)
	assert.NotEmpty(t, res[0].Ignored, "db-1's incident rolled back with the batch")
	assert.True(t, res[1].Created)
	assert.Equal(t, uint64(1), res[1].Incident.ID, "the rolled-back transaction's sequence is not kept either")
}

// A schema 1 file (entity_id → incident index) opens, migrates and goes on
// with the same incidents.
func TestEntityIndexAfterMigrationFromSchema1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sitrep.db")
	db, err := storage.Open(path, storage.Options{NoSync: true})
	require.NoError(t, err)
	tl := New(db, Options{})
	ctx := context.Background()
	res, err := tl.Ingest(ctx, []Alert{alert(MsgCritical, "db-1"), alert(MsgCritical, "web-1"), alert(MsgRecovery, "web-1"), alert(MsgCritical, "web-1")})
	require.NoError(t, err)
	dbInc, webInc := res[0].Incident.ID, res[3].Incident.ID
	require.NoError(t, db.Close())

	// Turn it back into schema 1, as an older sitrep left it.
	b, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, b.Update(func(tx *bolt.Tx) error {
		require.NoError(t, tx.DeleteBucket(storage.BucketIncidentEntities))
		old, err := tx.CreateBucket(storage.BucketEntities)
		require.NoError(t, err)
		require.NoError(t, old.Put([]byte("db-1"), storage.U64(dbInc)))
		require.NoError(t, old.Put([]byte("web-1"), storage.U64(webInc)))
		return tx.Bucket(storage.BucketMeta).Put([]byte("schema_version"), storage.U64(1))
	}))
	require.NoError(t, b.Close())

	db, err = storage.Open(path, storage.Options{NoSync: true})
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, db.View(func(tx *bolt.Tx) error {
		assert.Nil(t, tx.Bucket(storage.BucketEntities), "schema 1's index is dropped")
		assert.Equal(t, uint64(storage.SchemaVersion), storage.ParseU64(tx.Bucket(storage.BucketMeta).Get([]byte("schema_version"))))
		return nil
	}))
	tl = New(db, Options{})
	res, err = tl.Ingest(ctx, []Alert{alert(MsgWarning, "db-1"), alert(MsgInfo, "web-1")})
	require.NoError(t, err)
	assert.Equal(t, dbInc, res[0].Incident.ID)
	assert.Equal(t, KindUpdated, res[0].Event.Kind)
	assert.Equal(t, webInc, res[1].Incident.ID, "the entity's latest incident")
}

// An alert's fields are stored once, in its event: the incident record
// names the event. A record that holds its fields itself (an older file, or
// fields an ack kept from an older event) reads as before.
func TestIncidentFieldsAreWrittenOnce(t *testing.T) {
	tl, db := newTimeline(t, Options{})
	ctx := context.Background()
	e := fingerprint()
	res, err := tl.Ingest(ctx, []Alert{alert(MsgCritical, e, "host_name", "db-7f3a.eu-west-1.prod.example.net", FieldStateMessage, "97% used")})
	require.NoError(t, err)
	id := res[0].Incident.ID
	raw := func() string {
		var v []byte
		require.NoError(t, db.View(func(tx *bolt.Tx) error {
			v = append(v, tx.Bucket(storage.BucketIncidents).Get(storage.U64(id))...)
			return nil
		}))
		return string(v)
	}
	assert.NotContains(t, raw(), "db-7f3a", "the fields live in the event")
	assert.Contains(t, raw(), `"fields_event":1`)
	inc, _, err := tl.Incident(id)
	require.NoError(t, err)
	assert.Equal(t, "db-7f3a.eu-west-1.prod.example.net", inc.Fields["host_name"])

	_, err = tl.Act(ctx, Action{IncidentID: id, Kind: KindAcknowledged, Origin: Origin{Adapter: "webroom", User: "alice"}})
	require.NoError(t, err)
	assert.Contains(t, raw(), "db-7f3a", "an ack keeps an older event's fields: written out")
	inc, _, err = tl.Incident(id)
	require.NoError(t, err)
	assert.Equal(t, "97% used", inc.Fields[FieldStateMessage])
	assert.Equal(t, StateAcknowledged, inc.State)

	res, err = tl.Ingest(ctx, []Alert{alert(MsgCritical, e, "host_name", "db-7f3a.eu-west-1.prod.example.net", FieldStateMessage, "99% used")})
	require.NoError(t, err)
	assert.Equal(t, KindUpdated, res[0].Event.Kind)
	assert.NotContains(t, raw(), "db-7f3a")
	all, err := tl.Incidents("", 0)
	require.NoError(t, err)
	require.Len(t, all, 1)
	assert.Equal(t, "99% used", all[0].Fields[FieldStateMessage])
}
