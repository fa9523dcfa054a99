package statushub

import (
	"github.com/sitrep/sitrep/adapters/hookpost"
	"github.com/sitrep/sitrep/config"
	"github.com/sitrep/sitrep/platform"
)

// Descriptor is the statushub status page kind, for the platform list.
func Descriptor() platform.Descriptor {
	return hookpost.PageDescriptor(config.PageKind{Services: true, Title: "StatusHub"}, Kind, RenderUpdate)
}
