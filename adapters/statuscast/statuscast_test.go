package statuscast_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/adapters/statuscast"
	"github.com/sitrep/sitrep/adapters/statuscast/statuscasttest"
)

func TestRender(t *testing.T) {
	cases := []struct {
		in    statuscast.Update
		want  string
		field string
	}{
		{in: statuscast.Update{MonitorName: "db \"main\"", State: "CRITICAL"}, want: `{"monitorName":"db \"main\"","state":"CRITICAL"}`},
		{in: statuscast.Update{State: "OK"}, field: "monitorName"},
		{in: statuscast.Update{MonitorName: "db"}, field: "state"},
	}
	for _, tc := range cases {
		got, err := statuscast.Render(tc.in)
		if tc.field != "" {
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.field)
			continue
		}
		require.NoError(t, err)
		assert.Equal(t, tc.want, string(got))
	}
}

func TestDeliverToFake(t *testing.T) {
	fake := statuscasttest.New(t)
	chat := statuscast.New(fake.Client())
	body, err := statuscast.Render(statuscast.Update{MonitorName: "db", State: "CRITICAL"})
	require.NoError(t, err)
	d := adapters.Delivery{Room: adapters.Room{Name: "statuspage:cast", ID: fake.HookURL()}, Msg: adapters.Message{Payload: body}}
	fake.Fail(1, 429, "2")
	_, err = chat.Deliver(context.Background(), d)
	after, limited := adapters.RetryAfter(err)
	require.True(t, limited)
	assert.Equal(t, 2*time.Second, after)
	fake.Fail(1, 502, "")
	_, err = chat.Deliver(context.Background(), d)
	require.Error(t, err)
	assert.False(t, adapters.IsPermanent(err))
	_, err = chat.Deliver(context.Background(), d)
	require.NoError(t, err)
	assert.Equal(t, []string{`{"monitorName":"db","state":"CRITICAL"}`}, fake.Bodies())
}
