package hipchat

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/sitrep/sitrep/rooms"
)

func TestDescriptorRoomRules(t *testing.T) {
	d := Descriptor()
	for _, tc := range []struct {
		name   string
		server Config
		room   rooms.Room
		field  string
	}{
		{"numbered room with its token", Config{}, rooms.Room{Name: "pay", ID: "123", Token: "tok"}, ""},
		{"server token serves rooms without one", Config{Token: "server"}, rooms.Room{Name: "pay", ID: "123"}, ""},
		{"no token anywhere", Config{}, rooms.Room{Name: "pay", ID: "123"}, "token"},
		{"room by name", Config{Token: "server"}, rooms.Room{Name: "pay", ID: "Ops"}, "id"},
		{"number with spaces", Config{Token: "server"}, rooms.Room{Name: "pay", ID: " 12"}, "id"},
		{"no id: the name is no number", Config{Token: "server"}, rooms.Room{Name: "pay"}, "id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.room.Platform = Platform
			field, _ := d.Room(&tc.server, tc.room.WithDefaults())
			assert.Equal(t, tc.field, field)
		})
	}
	on, why := d.On(&Config{})
	assert.False(t, on)
	assert.Contains(t, why, "hipchat.base_url")
	on, _ = d.On(&Config{BaseURL: "https://hc.example.com"})
	assert.True(t, on)
}
