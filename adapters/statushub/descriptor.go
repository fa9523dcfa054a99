package statushub

import (
	"time"

	"github.com/sitrep/sitrep/config"
	"github.com/sitrep/sitrep/platform"
)

// Descriptor is the statushub status page kind, for the platform list: pages
// of this kind are listed under status_pages, and the outbox delivers to
// them through Chat like to any room.
func Descriptor() platform.Descriptor {
	return platform.Descriptor{
		Platform: config.Platform{
			Name:     Kind,
			Limit:    config.RateLimit{Messages: 30, Per: time.Minute},
			PageKind: &config.PageKind{Services: true},
		},
		Build: func(platform.Env) (platform.Built, error) { return platform.Built{Chat: New(nil)}, nil },
	}
}
