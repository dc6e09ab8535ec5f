package totp_test

import (
	"bytes"
	"image/png"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/backend/internal/signin/totp"
)

func TestGenerate(t *testing.T) {
	e, err := totp.Generate("doc@example.org")
	require.NoError(t, err)
	u, err := url.Parse(e.URI)
	require.NoError(t, err)
	assert.Equal(t, "otpauth", u.Scheme)
	assert.Equal(t, "totp", u.Host)
	q := u.Query()
	assert.Equal(t, "HCW@Home", q.Get("issuer"))
	assert.Equal(t, "SHA1", q.Get("algorithm"))
	assert.Equal(t, "6", q.Get("digits"))
	assert.Equal(t, "30", q.Get("period"))
	assert.Equal(t, e.Secret, q.Get("secret"))
	assert.Len(t, e.Secret, 32, "160 bits in base32")
	img, err := png.Decode(bytes.NewReader(e.QRPNG))
	require.NoError(t, err)
	assert.Equal(t, 256, img.Bounds().Dx())
}

// RFC 6238 appendix B, SHA-1 rows (8 digits there; the last 6 here).
func TestCodeRFCVectors(t *testing.T) {
	const secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ" // "12345678901234567890"
	for _, tc := range []struct {
		unix int64
		want string
	}{
		{59, "287082"}, {1111111109, "081804"}, {1111111111, "050471"},
		{1234567890, "005924"}, {2000000000, "279037"},
	} {
		got, err := totp.Code(secret, totp.Step(time.Unix(tc.unix, 0)))
		require.NoError(t, err)
		assert.Equal(t, tc.want, got, "t=%d", tc.unix)
	}
}

func TestMatch(t *testing.T) {
	e, err := totp.Generate("a@example.org")
	require.NoError(t, err)
	now := time.Unix(1_800_000_000, 0)
	cur := totp.Step(now)
	code := func(step int64) string {
		c, err := totp.Code(e.Secret, step)
		require.NoError(t, err)
		return c
	}
	for _, tc := range []struct {
		name     string
		step     int64
		lastUsed int64
		ok       bool
	}{
		{"current", cur, 0, true},
		{"one behind", cur - 1, 0, true},
		{"one ahead", cur + 1, 0, true},
		{"two behind", cur - 2, 0, false},
		{"two ahead", cur + 2, 0, false},
		{"replay of the current step", cur, cur, false},
		{"earlier step after a later one", cur - 1, cur, false},
		{"later step after an earlier one", cur + 1, cur, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			step, ok, err := totp.Match(e.Secret, code(tc.step), now, tc.lastUsed)
			require.NoError(t, err)
			assert.Equal(t, tc.ok, ok)
			if tc.ok {
				assert.Equal(t, tc.step, step)
			}
		})
	}
}

func TestParseCode(t *testing.T) {
	for in, want := range map[string]string{
		"123456": "123456", "123 456": "123456", " 123456 ": "123456", "000000": "000000",
	} {
		got, err := totp.ParseCode(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got)
	}
	for _, in := range []string{
		"", "12345", "1234567", "12345a", "123-456", "123\t456", "１２３４５６", "123456\n",
		"+123456", "-12345", "0x1234", "1 2 3 4 5 6 7", "                 123456",
	} {
		_, err := totp.ParseCode(in)
		assert.ErrorIs(t, err, totp.ErrMalformed, "%q", in)
	}
}
