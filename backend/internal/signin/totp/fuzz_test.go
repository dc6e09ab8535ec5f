package totp_test

import (
	"testing"

	"github.com/hcw-home/hcw/backend/internal/signin/totp"
)

// FuzzParseCode checks that whatever ParseCode accepts is six ASCII digits
// taken, in order, from an input made only of digits and spaces.
func FuzzParseCode(f *testing.F) {
	for _, s := range []string{"123456", "123 456", " 000000 ", "12345", "1234567", "12a456",
		"１２３４５６", "123\t456", "", "                ", "9 9 9 9 9 9", "\x00123456"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := totp.ParseCode(s)
		if err != nil {
			return
		}
		if len(got) != totp.Digits {
			t.Fatalf("ParseCode(%q) = %q: not %d characters", s, got, totp.Digits)
		}
		var digits []byte
		for i := 0; i < len(s); i++ {
			switch c := s[i]; {
			case c >= '0' && c <= '9':
				digits = append(digits, c)
			case c == ' ':
			default:
				t.Fatalf("ParseCode(%q) accepted byte %q", s, c)
			}
		}
		if string(digits) != got {
			t.Fatalf("ParseCode(%q) = %q, want %q", s, got, digits)
		}
	})
}
