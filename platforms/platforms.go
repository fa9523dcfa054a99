// Package platforms is the one list of the chat platforms sitrep is built
// with, chat platforms and status page kinds. Adding a platform is a new package under adapters/ with a
// Descriptor, and one line here.
package platforms

import (
	"github.com/sitrep/sitrep/adapters/discord"
	"github.com/sitrep/sitrep/adapters/hipchat"
	"github.com/sitrep/sitrep/adapters/slack"
	"github.com/sitrep/sitrep/adapters/statuscast"
	"github.com/sitrep/sitrep/adapters/statushub"
	"github.com/sitrep/sitrep/adapters/webroom"
	"github.com/sitrep/sitrep/platform"
)

// All returns every platform, in the order they are built.
func All() platform.List {
	return platform.List{
		webroom.Descriptor(),
		hipchat.Descriptor(),
		slack.Descriptor(),
		discord.Descriptor(),
		statushub.Descriptor(),
		statuscast.Descriptor(),
	}
}
