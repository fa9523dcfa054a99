package slack_test

import (
	"testing"
	"time"

	slackadapter "github.com/sitrep/sitrep/adapters/slack"
	"github.com/sitrep/sitrep/outbox"
	"github.com/sitrep/sitrep/outbox/stormtest"
)

// BenchmarkSlackStorm: 1,000 alerts over 5 s into one Slack channel, through
// the real outbox paced at the descriptor's limit, against the fake enforcing
// Slack's one message a second per channel (burst 3) in real time. Run with
// -benchtime 1x.
func BenchmarkSlackStorm(b *testing.B) {
	var res stormtest.Result
	for range b.N {
		f := newFixture(b, nil, nil)
		l := slackadapter.Descriptor().Platform.Limit
		ep := outbox.Endpoint{Room: room, Chat: f.client, Limit: outbox.Limit{Messages: l.Messages, Per: l.Per}}
		res = stormtest.Run(b, f.db, ep, 1000, 5*time.Second, func() []stormtest.Shown {
			var out []stormtest.Shown
			for _, m := range f.fake.Messages(chanOps) {
				out = append(out, stormtest.Shown{Text: m.Text, At: m.At})
			}
			return out
		}, f.fake.Count429)
	}
	stormtest.Report(b, res, 1000, 2*time.Second)
}
