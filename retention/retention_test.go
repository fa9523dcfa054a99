package retention_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/outbox"
	"github.com/sitrep/sitrep/retention"
	"github.com/sitrep/sitrep/storage"
	"github.com/sitrep/sitrep/timeline"
)

const day = 24 * time.Hour

type fixture struct {
	db    *storage.DB
	tl    *timeline.Timeline
	now   time.Time
	queue map[string]bool // entities whose events get an outbox entry
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	db, err := storage.Open(filepath.Join(t.TempDir(), "sitrep.db"), storage.Options{NoSync: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	f := &fixture{db: db, now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), queue: map[string]bool{}}
	f.tl = timeline.New(db, timeline.Options{Now: func() time.Time { return f.now }, Dispatch: func(tx *bolt.Tx, inc *timeline.Incident, ev *timeline.Event) (timeline.Dispatched, error) {
		// Every incident gets a card ref; some entities' events stay pending in the outbox.
		if err := tx.Bucket(storage.BucketRefs).Put(append(storage.U64(inc.ID), "ops"...), []byte("1")); err != nil {
			return timeline.Dispatched{}, err
		}
		if f.queue[inc.EntityID] {
			_, err := outbox.Enqueue(tx, "ops", adapters.Message{IncidentID: inc.ID, Text: ev.Text}, f.now)
			return timeline.Dispatched{}, err
		}
		return timeline.Dispatched{}, nil
	}})
	return f
}

func (f *fixture) alert(t *testing.T, mt, entity string) timeline.Result {
	t.Helper()
	res, err := f.tl.Ingest(context.Background(), []timeline.Alert{{MessageType: mt, EntityID: entity,
		Fields: map[string]string{"entity_id": entity, "message_type": mt}, Origin: timeline.Origin{Adapter: "http"}}})
	require.NoError(t, err)
	return res[0]
}

func (f *fixture) pruner(keep time.Duration, batch int) *retention.Pruner {
	return retention.New(retention.Options{DB: f.db, Timeline: f.tl, Keep: keep, Batch: batch, Pause: time.Millisecond,
		Now: func() time.Time { return f.now },
		Hooks: []retention.Hook{{
			Name: "outbox",
			Keep: func(tx *bolt.Tx) (func(timeline.Incident) bool, error) {
				pending, err := outbox.PendingIncidents(tx)
				return func(inc timeline.Incident) bool { return pending[inc.ID] }, err
			},
			Prune: func(tx *bolt.Tx, inc timeline.Incident) error { return outbox.DeleteRefs(tx, inc.ID) },
		}},
		Sweeps: []retention.Sweep{{Name: "slack", Bucket: storage.BucketSlackMessages, Incident: func(_, v []byte) uint64 { return storage.ParseU64(v) }}},
	})
}

func host() string { return fmt.Sprintf("db-%08x.eu-west-1.prod.example.net", rand.Uint32()) }

func TestPassPrunesOnlyOldResolvedIncidentsNothingNeeds(t *testing.T) {
	f := newFixture(t)
	old, open, pending := host(), host(), host()
	f.queue[pending] = true
	oldID := f.alert(t, timeline.MsgCritical, old).Incident.ID
	f.alert(t, timeline.MsgRecovery, old)
	openID := f.alert(t, timeline.MsgCritical, open).Incident.ID
	pendingID := f.alert(t, timeline.MsgCritical, pending).Incident.ID
	f.alert(t, timeline.MsgRecovery, pending)
	f.now = f.now.Add(80 * day)
	recent := host()
	recentID := f.alert(t, timeline.MsgCritical, recent).Incident.ID
	f.alert(t, timeline.MsgRecovery, recent)
	require.NoError(t, f.db.Update(context.Background(), func(tx *bolt.Tx) error {
		b := tx.Bucket(storage.BucketSlackMessages)
		if err := b.Put([]byte("C1\x001.1"), storage.U64(oldID)); err != nil {
			return err
		}
		return b.Put([]byte("C1\x002.2"), storage.U64(recentID))
	}))

	f.now = f.now.Add(20 * day) // old and pending resolved 100 days ago, recent 20
	st, err := f.pruner(90*day, 64).Pass(context.Background())
	require.NoError(t, err)
	assert.Equal(t, retention.PassStats{Incidents: 1, Swept: 1}, st)

	for _, tc := range []struct {
		name string
		id   uint64
		kept bool
	}{
		{"resolved 100 days ago", oldID, false},
		{"open for 100 days", openID, true},
		{"resolved 100 days ago, an outbox entry pending", pendingID, true},
		{"resolved 20 days ago", recentID, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, evs, err := f.tl.Incident(tc.id)
			if !tc.kept {
				require.ErrorIs(t, err, timeline.ErrNotFound)
				assert.Empty(t, evs)
			} else {
				require.NoError(t, err)
				assert.NotEmpty(t, evs)
			}
			require.NoError(t, f.db.View(func(tx *bolt.Tx) error {
				assert.Equal(t, tc.kept, tx.Bucket(storage.BucketRefs).Get(append(storage.U64(tc.id), "ops"...)) != nil, "ref")
				assert.Equal(t, tc.kept, tx.Bucket(storage.BucketIncidentEntities).Get(storage.U64(tc.id)) != nil, "entity record")
				c := tx.Bucket(storage.BucketEvents).Cursor()
				k, _ := c.Seek(storage.U64(tc.id))
				assert.Equal(t, tc.kept, k != nil && storage.ParseU64(k) == tc.id, "events")
				return nil
			}))
		})
	}
	require.NoError(t, f.db.View(func(tx *bolt.Tx) error {
		assert.Nil(t, tx.Bucket(storage.BucketSlackMessages).Get([]byte("C1\x001.1")), "swept: its incident is gone")
		assert.NotNil(t, tx.Bucket(storage.BucketSlackMessages).Get([]byte("C1\x002.2")))
		return nil
	}))

	// The pruned incident's entity starts afresh; the others keep theirs.
	assert.NotEmpty(t, f.alert(t, timeline.MsgInfo, old).Ignored)
	res := f.alert(t, timeline.MsgCritical, old)
	assert.True(t, res.Created)
	assert.Greater(t, res.Incident.ID, recentID)
	assert.Equal(t, openID, f.alert(t, timeline.MsgCritical, open).Incident.ID)
	assert.Equal(t, recentID, f.alert(t, timeline.MsgInfo, recent).Incident.ID)
}

// A pass deletes in transactions of Batch incidents; a retention of 0 prunes nothing.
func TestPassInSmallTransactionsAndOff(t *testing.T) {
	f := newFixture(t)
	for range 50 {
		e := host()
		f.alert(t, timeline.MsgCritical, e)
		f.alert(t, timeline.MsgRecovery, e)
	}
	f.now = f.now.Add(365 * day)

	st, err := f.pruner(0, 8).Pass(context.Background())
	require.NoError(t, err)
	assert.Zero(t, st.Incidents, "retention off")

	before := f.db.Stats().Commits
	st, err = f.pruner(90*day, 8).Pass(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 50, st.Incidents)
	assert.GreaterOrEqual(t, f.db.Stats().Commits-before, uint64(7), "50 incidents, 8 a transaction")
	all, err := f.tl.Incidents("", 0)
	require.NoError(t, err)
	assert.Empty(t, all)
}
