// Package jsontest holds test inputs for code that writes or reads JSON
// without encoding/json, to hold it to encoding/json's behaviour.
package jsontest

// Tricky returns strings whose JSON escaping is easy to get wrong: quotes and
// backslashes, HTML characters, control characters, U+2028/U+2029, invalid
// and truncated UTF-8, surrogate halves, and multi-byte text.
func Tricky() []string {
	return []string{
		"", "plain", `quote " backslash \ slash /`, "<script>&amp;</script>",
		"ctl \x00\x01\x07\b\f\n\r\t\x1f\x7f end", "line\u2028para\u2029sep",
		"bad utf8 \xff\xfe end", "truncated \xe2\x82", "surrogate \xed\xa0\x80",
		"emoji 🔥 and ü and 中文", "\xc0\xaf overlong", "#42 triggered CRITICAL: Disk full — 97% used",
	}
}
