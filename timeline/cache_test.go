package timeline

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

// A transaction that rolls back after writing an incident must not leave the
// cache answering with what it wrote.
func TestCacheNeverOutlivesARollback(t *testing.T) {
	failOn := ""
	tl, _ := newTimeline(t, Options{Dispatch: func(_ *bolt.Tx, inc *Incident, _ *Event) error {
		if inc.EntityID == failOn {
			return errors.New("dispatch failed")
		}
		return nil
	}})
	ctx := context.Background()
	alert := func(mt, entity string) Alert {
		return Alert{MessageType: mt, EntityID: entity, Fields: map[string]string{"entity_id": entity}, Time: time.Now()}
	}
	res, err := tl.Ingest(ctx, []Alert{alert(MsgCritical, "db")})
	require.NoError(t, err)
	id := res[0].Incident.ID

	// The ack is written (and cached) first, then the second alert fails: all of it rolls back.
	failOn = "web"
	_, err = tl.Ingest(ctx, []Alert{alert(MsgAcknowledgement, "db"), alert(MsgCritical, "web")})
	require.Error(t, err)

	failOn = ""
	res, err = tl.Ingest(ctx, []Alert{alert(MsgWarning, "db")})
	require.NoError(t, err)
	assert.Equal(t, id, res[0].Incident.ID)
	assert.Equal(t, StateTriggered, res[0].Incident.State, "the rolled-back ack must not come back from the cache")
	assert.Equal(t, KindUpdated, res[0].Event.Kind)

	inc, _, err := tl.Incident(id)
	require.NoError(t, err)
	assert.Equal(t, StateTriggered, inc.State)
	assert.Nil(t, inc.AcknowledgedAt)
}

func TestCacheCopiesRooms(t *testing.T) {
	tl, _ := newTimeline(t, Options{Dispatch: func(_ *bolt.Tx, inc *Incident, ev *Event) error {
		if ev.Kind == KindTriggered {
			inc.Rooms = append(make([]string, 0, 8), "ops")
		} else {
			inc.Rooms = append(inc.Rooms, "extra") // grows in place if the slice were shared
		}
		return nil
	}})
	ctx := context.Background()
	a := Alert{MessageType: MsgCritical, EntityID: "x", Fields: map[string]string{}, Time: time.Now()}
	_, err := tl.Ingest(ctx, []Alert{a})
	require.NoError(t, err)
	a.MessageType = MsgWarning
	first, err := tl.Ingest(ctx, []Alert{a})
	require.NoError(t, err)
	second, err := tl.Ingest(ctx, []Alert{a})
	require.NoError(t, err)
	assert.Equal(t, []string{"ops", "extra"}, first[0].Incident.Rooms, "a result keeps its own rooms")
	assert.Equal(t, []string{"ops", "extra", "extra"}, second[0].Incident.Rooms)
}
