package statuscast

import (
	"github.com/sitrep/sitrep/adapters/hookpost"
	"github.com/sitrep/sitrep/config"
	"github.com/sitrep/sitrep/platform"
)

// Descriptor is the statuscast status page kind, for the platform list.
func Descriptor() platform.Descriptor {
	return hookpost.PageDescriptor(config.PageKind{Monitor: true, Title: "StatusCast"}, Kind, RenderUpdate)
}
