package discord

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/storage"
)

func TestReplays(t *testing.T) {
	for name, persist := range map[string]bool{"in memory": false, "in the db": true} {
		t.Run(name, func(t *testing.T) {
			got := make(chan adapters.Inbound, 10)
			f := newFixture(t, answering(got), func(o *Options) {
				if persist {
					o.DB = o.Cards.db
				}
			})
			ch := f.fake.AddChannel()
			body := press(ch, "555", "alice", CustomID(adapters.VerbAck, 42))
			first, _ := http.NewRequest(http.MethodPost, f.srv.URL+InteractionsPath, bytes.NewReader(body))
			f.sign(first, body, time.Now())
			header := first.Header.Clone()
			code, _ := do(t, first)
			require.Equal(t, http.StatusOK, code)
			<-got

			resend := func(url string, h http.Header) int {
				req, _ := http.NewRequest(http.MethodPost, url+InteractionsPath, bytes.NewReader(body))
				req.Header = h
				code, _ := do(t, req)
				return code
			}
			upper := header.Clone()
			upper.Set("X-Signature-Ed25519", strings.ToUpper(header.Get("X-Signature-Ed25519")))
			assert.Equal(t, http.StatusUnauthorized, resend(f.srv.URL, header), "replayed")
			assert.Equal(t, http.StatusUnauthorized, resend(f.srv.URL, upper), "replayed in upper-case hex")

			if !persist {
				return
			}
			// A restart: a new client on the same db still refuses it.
			c2, err := New(f.c.opts)
			require.NoError(t, err)
			mux := http.NewServeMux()
			c2.Register(mux)
			srv := httptest.NewServer(mux)
			t.Cleanup(srv.Close)
			assert.Equal(t, http.StatusUnauthorized, resend(srv.URL, header), "replayed after a restart")
			assert.Equal(t, http.StatusUnauthorized, resend(srv.URL, upper), "replayed in upper case after a restart")
			select {
			case in := <-got:
				t.Fatalf("a replay reached sitrep: %+v", in)
			default:
			}

			// Pruned once too old to pass again.
			n, err := c2.PruneSignatures(t.Context())
			require.NoError(t, err)
			assert.Zero(t, n, "still fresh")
			c2.opts.Now = func() time.Time { return time.Now().Add(MaxSkew + time.Minute) }
			n, err = c2.PruneSignatures(t.Context())
			require.NoError(t, err)
			assert.Equal(t, 1, n)
			_ = f.db.View(func(tx *bolt.Tx) error {
				assert.Zero(t, tx.Bucket(storage.BucketDiscordSigs).Stats().KeyN)
				return nil
			})
		})
	}
}
