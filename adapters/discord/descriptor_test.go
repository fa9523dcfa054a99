package discord

import (
	"testing"

	"github.com/bwmarrin/discordgo"
	"github.com/stretchr/testify/assert"
)

// The README's invite URL asks for exactly the bot's permissions.
func TestInvitePermissions(t *testing.T) {
	want := int64(discordgo.PermissionSendMessages | discordgo.PermissionCreatePublicThreads | discordgo.PermissionSendMessagesInThreads |
		discordgo.PermissionEmbedLinks | discordgo.PermissionReadMessageHistory)
	assert.Equal(t, int64(309237729280), want)
}
