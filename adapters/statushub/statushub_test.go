package statushub_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/adapters/statushub"
	"github.com/sitrep/sitrep/adapters/statushub/statushubtest"
	"github.com/sitrep/sitrep/statuspage"
)

func update(state statuspage.State, status statuspage.Status) statushub.Incident {
	return statushub.Incident{Type: "incident", ID: "sitrep-7-api", Title: "API down", Description: "5xx on /v1",
		StartTime: statushub.FormatTime(time.Date(2026, 3, 4, 5, 6, 7, 890, time.FixedZone("x", 3600))), State: state, Status: status}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(*statushub.Incident)
		field string
	}{
		{name: "valid", edit: func(*statushub.Incident) {}},
		{name: "state outside the enum", edit: func(u *statushub.Incident) { u.State = "fixed" }, field: "state"},
		{name: "status outside the enum", edit: func(u *statushub.Incident) { u.Status = "broken" }, field: "status"},
		{name: "local time", edit: func(u *statushub.Incident) { u.StartTime = "2026-03-04T05:06:07+01:00" }, field: "start_time"},
		{name: "no id", edit: func(u *statushub.Incident) { u.ID = "" }, field: "id"},
		{name: "no title", edit: func(u *statushub.Incident) { u.Title = "" }, field: "title"},
		{name: "wrong type", edit: func(u *statushub.Incident) { u.Type = "maintenance" }, field: "type"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := update(statuspage.Investigating, statuspage.Down)
			tc.edit(&u)
			_, err := statushub.Render(u)
			if tc.field == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.field)
		})
	}
	assert.Equal(t, "2026-03-04T04:06:07Z", update("", "").StartTime)
}

func TestDeliverToFake(t *testing.T) {
	fake := statushubtest.New(t)
	hook := fake.HookURL("api")
	chat := statushub.New(fake.Client())
	deliver := func(u statushub.Incident) error {
		body, err := statushub.Render(u)
		require.NoError(t, err)
		_, err = chat.Deliver(context.Background(), adapters.Delivery{Room: adapters.Room{Name: "statuspage:public/api", ID: hook}, Msg: adapters.Message{Payload: body}})
		return err
	}
	// resolved first is refused, permanently, with the fake's reason
	err := deliver(update(statuspage.Resolved, statuspage.Up))
	require.Error(t, err)
	assert.True(t, adapters.IsPermanent(err))
	assert.Contains(t, err.Error(), "resolved cannot be the first update")
	assert.NotContains(t, err.Error(), "token")

	require.NoError(t, deliver(update(statuspage.Investigating, statuspage.Down)))
	fake.Fail(1, 429, "3", "slow down")
	err = deliver(update(statuspage.Identified, statuspage.Down))
	after, limited := adapters.RetryAfter(err)
	require.True(t, limited)
	assert.Equal(t, 3*time.Second, after)
	fake.Fail(1, 503, "", "busy")
	err = deliver(update(statuspage.Identified, statuspage.Down))
	require.Error(t, err)
	assert.False(t, adapters.IsPermanent(err))
	require.NoError(t, deliver(update(statuspage.Identified, statuspage.Down)))
	require.NoError(t, deliver(update(statuspage.Resolved, statuspage.Up)))
	err = deliver(update(statuspage.Monitoring, statuspage.Up))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "nothing may follow")

	got := fake.Updates("api")
	require.Len(t, got, 3)
	assert.JSONEq(t, `{"type":"incident","id":"sitrep-7-api","title":"API down","description":"5xx on /v1","start_time":"2026-03-04T04:06:07Z","state":"investigating","status":"down"}`, string(got[0].Body))
	assert.Len(t, fake.Violations(), 2)
}

func TestFakeChecksSchema(t *testing.T) {
	fake := statushubtest.New(t)
	hook := fake.HookURL("web")
	for _, body := range []string{
		`{"title":"t","description":"d","start_time":"2024-08-01T11:31:50Z","state":"fixed","status":"down"}`,
		`{"title":"t","description":"d","start_time":"2024-08-01 11:31:50","state":"monitoring","status":"down"}`,
		`{"description":"d","start_time":"2024-08-01T11:31:50Z","state":"monitoring","status":"down"}`,
	} {
		_, err := statushub.New(fake.Client()).Deliver(context.Background(), adapters.Delivery{Room: adapters.Room{ID: hook}, Msg: adapters.Message{Payload: []byte(body)}})
		require.Error(t, err, body)
		assert.True(t, adapters.IsPermanent(err))
	}
	// the guide's minimal example is fine
	_, err := statushub.New(fake.Client()).Deliver(context.Background(), adapters.Delivery{Room: adapters.Room{ID: hook}, Msg: adapters.Message{Payload: []byte(
		`{"title":"Generic Hook V2 usage example","description":"Incident body\n<br>With second line of text.","start_time":"2024-08-01T11:31:50Z","state":"monitoring","status":"down"}`)}})
	require.NoError(t, err)
}
