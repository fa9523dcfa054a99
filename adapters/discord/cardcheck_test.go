package discord

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sitrep/sitrep/adapters"
)

func TestPressMustMatchItsCard(t *testing.T) {
	got := make(chan adapters.Inbound, 4)
	f := newFixture(t, answering(got), nil)
	ch := f.fake.AddChannel()
	require.NoError(t, f.c.opts.Cards.Put(context.Background(), "555", ch, 42))

	// #42's card, a button naming #7: refused privately, nothing reaches sitrep.
	code, body := f.post(t, press(ch, "555", "alice", CustomID(adapters.VerbResolve, 7)), true)
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, float64(4), body["type"])
	data := body["data"].(map[string]any)
	assert.Equal(t, float64(64), data["flags"], "ephemeral")
	assert.Contains(t, data["content"], "not this card's")
	select {
	case in := <-got:
		t.Fatalf("a mismatched press reached sitrep: %+v", in)
	default:
	}

	// Its own button goes through.
	code, body = f.post(t, press(ch, "555", "alice", CustomID(adapters.VerbAck, 42)), true)
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, float64(7), body["type"])
	in := <-got
	assert.Equal(t, uint64(42), in.Action.IncidentID)

	// A card sitrep does not know is taken as the button says.
	code, _ = f.post(t, press(ch, "556", "alice", CustomID(adapters.VerbResolve, 7)), true)
	require.Equal(t, http.StatusOK, code)
	in = <-got
	assert.Equal(t, uint64(7), in.Action.IncidentID)
}
