package discord

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/adapters/discord/discordtest"
	"github.com/sitrep/sitrep/outbox"
	"github.com/sitrep/sitrep/outbox/stormtest"
	"github.com/sitrep/sitrep/storage"
)

// BenchmarkDiscordStorm: 1,000 alerts over 5 s into one channel, through the
// real outbox paced at the descriptor's limit, against the fake Discord
// answering 429 past 5 messages per 5 s. Run with -benchtime 1x.
func BenchmarkDiscordStorm(b *testing.B) {
	var res stormtest.Result
	for range b.N {
		fake := discordtest.New(testToken)
		b.Cleanup(fake.Close)
		ch := fake.AddChannel()
		db, err := storage.Open(filepath.Join(b.TempDir(), "sitrep.db"), storage.Options{NoSync: true})
		require.NoError(b, err)
		b.Cleanup(func() { _ = db.Close() })
		c, err := New(Options{Token: testToken, APIURL: fake.URL(), Cards: NewCards(db)})
		require.NoError(b, err)
		l := Descriptor().Platform.Limit
		ep := outbox.Endpoint{Room: adapters.Room{Name: "ops", ID: ch}, Chat: c, Limit: outbox.Limit{Messages: l.Messages, Per: l.Per}}
		res = stormtest.Run(b, db, ep, 1000, 5*time.Second, func() []stormtest.Shown {
			var out []stormtest.Shown
			for _, m := range fake.Messages(ch) {
				out = append(out, stormtest.Shown{Text: m.Text()})
			}
			return out
		}, func() int { _, n429, _ := fake.Counts(); return n429 })
	}
	stormtest.Report(b, res, 1000, 2*time.Second)
}
