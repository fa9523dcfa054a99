package webroom

import (
	"time"

	"github.com/sitrep/sitrep/config"
	"github.com/sitrep/sitrep/platform"
	"github.com/sitrep/sitrep/rooms"
)

// Descriptor is the web room as a sitrep platform.
func Descriptor() platform.Descriptor {
	return platform.Descriptor{
		Name:  Platform,
		Limit: platform.Limit{Messages: 20, Per: time.Second},
		Room: func(_ *config.Config, r rooms.Room) *rooms.FieldError {
			if !ValidRoomName(r.WithDefaults().ID) {
				return &rooms.FieldError{Field: "id", Msg: "a web room's id is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"}
			}
			return nil
		},
		Build: func(env platform.Env) (platform.Built, error) {
			cfg := env.Config.Web
			if !cfg.On() {
				return platform.Built{Off: "set web.enabled: true"}, nil
			}
			w := New(env.DB, env.Inbox, Options{
				Key: cfg.Key, History: cfg.History, AllowedOrigins: cfg.AllowedOrigins, Logger: env.Log,
				Exists: env.RoomExists,
			})
			w.Register(env.Mux)
			return platform.Built{Chat: w, Close: w.Close}, nil
		},
	}
}
