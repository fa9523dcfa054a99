package hipchatapi

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	xhtml "golang.org/x/net/html"
)

func TestDecodeDefaults(t *testing.T) {
	now := time.Unix(1, 0)
	n, err := Decode([]byte(`{"message":"<p><em>db-1</em> &amp; db-2</p>","token":"ignored"}`), now)
	require.Nil(t, err)
	assert.Equal(t, Notice{Text: "db-1 & db-2", HTML: "<em>db-1</em> &amp; db-2", Format: "html", Color: "yellow", Time: now}, n)

	n, err = Decode([]byte(`{"message":"x","color":"random","notify":"TRUE","card":{"title":"Deploy","description":{"value":"<b>v2</b> out","format":"html"}}}`), now)
	require.Nil(t, err)
	assert.Contains(t, []string{"yellow", "green", "red", "purple", "gray"}, n.Color)
	assert.True(t, n.Notify)
	assert.Equal(t, &Card{Title: "Deploy", Description: "v2 out"}, n.Card)

	n, err = Decode([]byte(`{"message":"x","card":{"description":"plain"},"from":"","notify":false}`), now)
	require.Nil(t, err)
	assert.Equal(t, &Card{Description: "plain"}, n.Card)
	assert.False(t, n.Notify)

	n, err = Decode([]byte(`{"message":"`+strings.Repeat("é", MaxMessage)+`"}`), now)
	require.Nil(t, err, "10,000 characters is the limit, not 10,000 bytes")
	assert.Equal(t, MaxMessage, utf8.RuneCountInString(n.Text))
}

func TestSanitize(t *testing.T) {
	tests := []struct{ in, html, text string }{
		{`<b>bold</b> <i>it</i> <strong>s</strong><br>next`, `<b>bold</b> <i>it</i> <strong>s</strong><br>next`, "bold it s\nnext"},
		{`<a href="https://x.example/a?b=1&amp;c=2" onclick="evil()">link</a>`, `<a href="https://x.example/a?b=1&amp;c=2">link</a>`, "link"},
		{`<a href="javascript:alert(1)">x</a>`, `<a>x</a>`, "x"},
		{`<img src="https://x.example/i.png" alt="graph" onerror="evil()">`, `<img src="https://x.example/i.png" alt="graph">`, ""},
		{`<img src="data:image/png;base64,AAAA">`, `<img>`, ""},
		{`<script>alert(1)</script>ok`, `ok`, "ok"},
		{`<style>p{}</style><div class="x">in div</div>`, `in div`, "in div"},
		{`<ul><li>one</li><li>two</li></ul>`, `<ul><li>one</li><li>two</li></ul>`, "one\ntwo"},
		{`<table><tr><td>a</td><td>b</td></tr></table>`, `<table><tr><td>a</td><td>b</td></tr></table>`, "a b"},
		{`<pre><code>x &lt; y</code></pre>`, `<pre><code>x &lt; y</code></pre>`, "x < y"},
		{`<b><i>unclosed`, `<b><i>unclosed</i></b>`, "unclosed"},
		{`stray </b> end`, `stray  end`, "stray  end"},
		{`<b>a<i>b</b>c`, `<b>a<i>b</i></b>c`, "abc"},
		{`<br/>`, `<br>`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			h, txt := sanitize(tt.in)
			checkSafe(t, h)
			assert.Equal(t, tt.html, h)
			assert.Equal(t, tt.text, txt)
		})
	}
}

// FuzzDecode: any body either decodes to a notice within HipChat's limits
// whose HTML has only allowed tags, or is a 400 naming what is wrong.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"color":"red","message":"db-1 disk full","notify":true,"message_format":"text"}`,
		`{"message":"<b>x</b><script>y</script>","message_format":"html","from":"ci"}`,
		`{"message":"x","card":{"title":"t","description":{"value":"<i>d</i>","format":"html"}}}`,
		`{"message":"","notify":"yes"}`, `[]`, `null`, `{"message":1}`, `{"message":"x","card":[]}`,
	} {
		f.Add([]byte(s))
	}
	now := time.Unix(0, 0)
	f.Fuzz(func(t *testing.T, body []byte) {
		n, err := Decode(body, now)
		if err != nil {
			if err.Code != 400 || err.Message == "" || (err.Field == "") != (err.Validation == "") {
				t.Fatalf("bad error %+v", err)
			}
			return
		}
		if !validColor(n.Color) || (n.Format != "html" && n.Format != "text") || utf8.RuneCountInString(n.From) > MaxFrom {
			t.Fatalf("notice outside HipChat's limits: %+v", n)
		}
		checkSafe(t, n.HTML)
	})
}

// checkSafe fails unless every tag in s is one HipChat allowed, with only the
// attributes sanitize keeps.
func checkSafe(t *testing.T, s string) {
	z := xhtml.NewTokenizer(strings.NewReader(s))
	for tt := z.Next(); tt != xhtml.ErrorToken; tt = z.Next() {
		tok := z.Token()
		if tt != xhtml.StartTagToken && tt != xhtml.EndTagToken && tt != xhtml.SelfClosingTagToken {
			continue
		}
		if !allowedTag(tok.Data) {
			t.Fatalf("tag %q in %q", tok.Data, s)
		}
		for _, a := range tok.Attr {
			ok := (a.Key == "href" && safeURL(a.Val, true)) || (a.Key == "src" && safeURL(a.Val, false)) || a.Key == "alt" || a.Key == "title"
			if !ok {
				t.Fatalf("attribute %s=%q in %q", a.Key, a.Val, s)
			}
		}
	}
}
