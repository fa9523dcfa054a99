package webroom

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/sitrep/sitrep/rooms"
)

func TestDescriptorRoomRules(t *testing.T) {
	d := Descriptor()
	block := d.New()
	for _, tc := range []struct {
		name  string
		room  rooms.Room
		field string
	}{
		{"named room", rooms.Room{Name: "ops", Platform: Platform}, ""},
		{"own id", rooms.Room{Name: "ops", Platform: Platform, ID: "ops-room"}, ""},
		{"token", rooms.Room{Name: "ops", Platform: Platform, Token: "t"}, "token"},
		{"id a page cannot have", rooms.Room{Name: "ops", Platform: Platform, ID: "no/slashes"}, "id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			field, _ := d.Room(block, tc.room.WithDefaults())
			assert.Equal(t, tc.field, field)
		})
	}
	assert.Equal(t, "web", d.Key)
	assert.Equal(t, defaultHistory, block.(*Config).History, "history defaults to 100")
	on, why := d.On(&Config{Enabled: new(false)})
	assert.False(t, on)
	assert.Contains(t, why, "web.enabled")
}
