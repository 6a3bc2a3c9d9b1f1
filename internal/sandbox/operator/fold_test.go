package operator

import (
	"strings"
	"testing"
)

// Lines over 998 characters are broken as Postfix's LMTP client breaks them (CRLF SP).
func TestFoldLongLines(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"short\r\n", "short\r\n"},
		{strings.Repeat("a", 998) + "\r\n", strings.Repeat("a", 998) + "\r\n"},
		{strings.Repeat("a", 999) + "\r\nx", strings.Repeat("a", 998) + "\r\n a\r\nx"},
		{strings.Repeat("a", 998+997+1), strings.Repeat("a", 998) + "\r\n " + strings.Repeat("a", 997) + "\r\n a"},
		{"x\n" + strings.Repeat("b", 1000) + "\n", "x\n" + strings.Repeat("b", 998) + "\r\n bb\n"},
	} {
		if got := string(foldLongLines([]byte(tc.in), 998)); got != tc.want {
			t.Errorf("foldLongLines(%d bytes) = %q…, want %q…", len(tc.in), got[:min(len(got), 40)], tc.want[:min(len(tc.want), 40)])
		}
	}
}
