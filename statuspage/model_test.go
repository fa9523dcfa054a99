package statuspage

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestRooms(t *testing.T) {
	tests := []struct {
		page, service, room string
	}{
		{"public", "api", "statuspage:public/api"},
		{"cast", "", "statuspage:cast"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.room, Room(tt.page, tt.service))
		page, service, ok := ParseRoom(tt.room)
		assert.True(t, ok)
		assert.Equal(t, tt.page, page)
		assert.Equal(t, tt.service, service)
	}
	for _, name := range []string{"ops", "statuspage:", "webhook:x"} {
		_, _, ok := ParseRoom(name)
		assert.False(t, ok, name)
	}
}

func TestEnums(t *testing.T) {
	for _, s := range []string{"investigating", "identified", "monitoring", "resolved"} {
		_, err := ParseState(s)
		assert.NoError(t, err, s)
	}
	for _, s := range []string{"", "Resolved", "fixed"} {
		_, err := ParseState(s)
		assert.Error(t, err, s)
	}
	for _, s := range []string{"down", "degraded", "up"} {
		_, err := ParseStatus(s)
		assert.NoError(t, err, s)
	}
	_, err := ParseStatus("broken")
	assert.ErrorContains(t, err, "expected down, degraded or up")
	assert.True(t, worse(Down, Degraded))
	assert.True(t, worse(Degraded, Up))
	assert.False(t, worse(Up, Degraded))
}

// A page takes times in 2020–2029 only: a source's clock gone wrong gives
// the time of receipt instead.
func TestPageTime(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	at := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	assert.Equal(t, at, pageTime(at, now))
	assert.Equal(t, now, pageTime(time.Date(2019, 12, 31, 23, 0, 0, 0, time.UTC), now))
	assert.Equal(t, now, pageTime(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), now))
}
