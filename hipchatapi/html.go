package hipchatapi

import (
	"html"
	"net/url"
	"strings"

	xhtml "golang.org/x/net/html"
)

// allowedTag reports whether HipChat kept the tag in an html notification:
// a, b, i, strong, em, br, img, pre, code, lists and tables.
func allowedTag(name string) bool {
	switch name {
	case "a", "b", "i", "strong", "em", "br", "img", "pre", "code",
		"ul", "ol", "li", "table", "thead", "tbody", "tfoot", "tr", "th", "td":
		return true
	}
	return false
}

// void tags have no end tag.
func void(name string) bool { return name == "br" || name == "img" }

// dropped tags lose their content as well as themselves.
func dropped(name string) bool {
	switch name {
	case "script", "style", "iframe", "object", "embed", "template", "textarea", "title", "head":
		return true
	}
	return false
}

// safeURL reports whether u is a link a chat room may show: http, https or,
// for links only, mailto.
func safeURL(u string, mail bool) bool {
	p, err := url.Parse(strings.TrimSpace(u))
	if err != nil {
		return false
	}
	switch strings.ToLower(p.Scheme) {
	case "http", "https":
		return p.Host != ""
	case "mailto":
		return mail
	}
	return false
}

// sanitize returns message as the HTML HipChat would show (only the allowed
// tags, links and images to http(s) only, every other attribute dropped,
// every tag closed) and as plain text (tags removed, entities decoded, a line
// break for br and for the end of a list item, row or pre block).
func sanitize(message string) (safe, text string) {
	var out, txt strings.Builder
	var open []string
	skip := 0
	z := xhtml.NewTokenizer(strings.NewReader(message))
	for {
		tt := z.Next()
		if tt == xhtml.ErrorToken {
			break
		}
		tok := z.Token()
		switch tt {
		case xhtml.TextToken:
			if skip == 0 {
				out.WriteString(html.EscapeString(tok.Data))
				txt.WriteString(tok.Data)
			}
		case xhtml.StartTagToken, xhtml.SelfClosingTagToken:
			if dropped(tok.Data) {
				if tt == xhtml.StartTagToken {
					skip++
				}
				continue
			}
			if skip > 0 || !allowedTag(tok.Data) {
				continue
			}
			writeTag(&out, tok)
			if tok.Data == "br" {
				txt.WriteByte('\n')
			}
			if !void(tok.Data) {
				if tt == xhtml.SelfClosingTagToken {
					out.WriteString("</" + tok.Data + ">")
				} else {
					open = append(open, tok.Data)
				}
			}
		case xhtml.EndTagToken:
			if dropped(tok.Data) {
				if skip > 0 {
					skip--
				}
				continue
			}
			if skip > 0 || !allowedTag(tok.Data) || void(tok.Data) {
				continue
			}
			for i := len(open) - 1; i >= 0; i-- {
				if open[i] != tok.Data {
					continue
				}
				for j := len(open) - 1; j >= i; j-- {
					out.WriteString("</" + open[j] + ">")
				}
				open = open[:i]
				break
			}
			switch tok.Data {
			case "li", "tr", "pre":
				txt.WriteByte('\n')
			case "td", "th":
				txt.WriteByte(' ')
			}
		}
	}
	for j := len(open) - 1; j >= 0; j-- {
		out.WriteString("</" + open[j] + ">")
	}
	return out.String(), strings.TrimSpace(txt.String())
}

// writeTag writes tok's start tag with only the attributes HipChat kept.
func writeTag(out *strings.Builder, tok xhtml.Token) {
	out.WriteString("<" + tok.Data)
	for _, a := range tok.Attr {
		keep := false
		switch {
		case tok.Data == "a" && a.Key == "href":
			keep = safeURL(a.Val, true)
		case tok.Data == "img" && a.Key == "src":
			keep = safeURL(a.Val, false)
		case tok.Data == "img" && a.Key == "alt", tok.Data == "a" && a.Key == "title":
			keep = true
		}
		if keep && a.Namespace == "" {
			out.WriteString(" " + a.Key + `="` + html.EscapeString(a.Val) + `"`)
		}
	}
	out.WriteString(">")
}
