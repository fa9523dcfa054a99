package slack_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sitrep/sitrep/adapters"
	slackadapter "github.com/sitrep/sitrep/adapters/slack"
	"github.com/sitrep/sitrep/adapters/slack/slacktest"
	"github.com/sitrep/sitrep/storage"
)

const (
	secret  = "8f742231b10e8888abcd99yyyzzz85a5"
	chanOps = "C0OPS"
	chanOut = "C0OUTSIDE" // the bot is not in it
)

type fixture struct {
	fake   *slacktest.Server
	client *slackadapter.Client
	db     *storage.DB
	srv    *httptest.Server
}

func openDB(tb testing.TB) *storage.DB {
	tb.Helper()
	db, err := storage.Open(filepath.Join(tb.TempDir(), "sitrep.db"), storage.Options{NoSync: true})
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = db.Close() })
	return db
}

// newFixture is the adapter against the fake, its Request URLs served, with
// channel chanOps (the bot in it) and chanOut (not), and users alice and bob.
func newFixture(tb testing.TB, handler adapters.Handler, mod func(*slackadapter.Options), fakeOpts ...slacktest.Option) *fixture {
	tb.Helper()
	fake := slacktest.New(tb, fakeOpts...)
	fake.AddChannel(chanOps, true)
	fake.AddChannel(chanOut, false)
	fake.AddUser("alice")
	fake.AddUser("bob")
	db := openDB(tb)
	o := slackadapter.Options{
		Token: slacktest.BotToken, SigningSecret: secret, APIURL: fake.URL(), PublicURL: "https://sitrep.example.com",
		DB: db, Handler: handler, Known: func(id string) bool { return id == chanOps || id == chanOut },
	}
	if mod != nil {
		mod(&o)
	}
	c := slackadapter.New(o)
	mux := http.NewServeMux()
	c.Register(mux)
	srv := httptest.NewServer(mux)
	tb.Cleanup(srv.Close)
	tb.Cleanup(c.Close)
	fake.SetApp(srv.URL, secret)
	return &fixture{fake: fake, client: c, db: db, srv: srv}
}

func ctxT(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	tb.Cleanup(cancel)
	return ctx
}
