package statuspage

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/commands"
	"github.com/sitrep/sitrep/storage"
	"github.com/sitrep/sitrep/timeline"
)

// Two rooms acting on one page incident at once: the second finds it open,
// but by the time its change is recorded the first has closed it. That is
// the sender's usage line ("already resolved"), not an internal error.
func TestCommandRacingAClose(t *testing.T) {
	db, err := storage.Open(filepath.Join(t.TempDir(), "sitrep.db"), storage.Options{NoSync: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	require.NoError(t, db.Update(context.Background(), func(tx *bolt.Tx) error {
		b := bucket(tx)
		if err := putPage(b, &PageIncident{Key: 1, Page: "public", State: Identified, Status: Down}); err != nil {
			return err
		}
		return putLinks(b, 7, links{Pages: []uint64{1}})
	}))
	e := New(Options{DB: db, Act: func(_ context.Context, a timeline.Action) (timeline.Result, error) {
		if a.Kind == timeline.KindResolved {
			return timeline.Result{}, fmt.Errorf("act on incident #7: %w", &timeline.StateError{Incident: 7, State: timeline.StateResolved, Action: a.Kind})
		}
		return timeline.Result{}, fmt.Errorf("act on incident #7: %w", ErrNoPageIncident) // closed meanwhile
	}})
	for _, pc := range []commands.PageCommand{
		{Sub: "update", IncidentID: 7, State: "monitoring"},
		{Sub: "resolve", IncidentID: 7},
	} {
		_, err := e.Command(context.Background(), pc, adapters.Inbound{}, timeline.Origin{Room: "ops"})
		var ue *commands.UsageError
		require.ErrorAs(t, err, &ue, "/incident %s", pc.Sub)
		assert.Contains(t, ue.Error(), "#7 is already resolved on its status page")
	}
}
