package account

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCheckPassword(t *testing.T) {
	for _, tc := range []struct {
		name, password, email string
		want                  error
	}{
		{"ok", "correct horse battery", "jo@example.org", nil},
		{"seven runes", "abcdefg", "", ErrPasswordTooShort},
		{"eight runes", "xk4!mz9q", "", nil},
		{"empty", "", "", ErrPasswordTooShort},
		// 7 runes but 21 bytes: length is counted in runes.
		{"short in runes, long in bytes", "日本語日本語日", "", ErrPasswordTooShort},
		{"eight multi-byte runes", "日本語日本語日本", "", nil},
		{"emoji", "🔒🔑🗝️🚪🧱🪟🏠🌳", "", nil},
		{"128 runes", strings.Repeat("é", 60) + strings.Repeat("zq", 34), "", nil},
		{"129 runes", strings.Repeat("é", 61) + strings.Repeat("zq", 34), "", ErrPasswordTooLong},
		{"common", "password", "", ErrPasswordCommon},
		{"common, other case", "PassWord123", "", ErrPasswordCommon},
		{"common, walk", "qwertyuiop", "", ErrPasswordCommon},
		{"common, season", "Summer2024!", "", ErrPasswordCommon},
		{"common, iloveyou", "ILOVEYOU", "", ErrPasswordCommon},
		{"equals local part", "marie.curie", "Marie.Curie@example.org", ErrPasswordContainsEmail},
		{"contains local part", "xx-MARIE.CURIE-1867", "marie.curie@example.org", ErrPasswordContainsEmail},
		{"short local part ignored", "jo-likes-tea", "jo@example.org", nil},
		{"domain is fine", "example.org-is-mine", "zz@example.org", nil},
		{"invalid utf-8", "abcdefgh\xff", "", ErrPasswordEncoding},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckPassword(tc.password, tc.email)
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tc.want)
		})
	}
}

func TestCommonPasswordList(t *testing.T) {
	set := commonPasswords()
	assert.GreaterOrEqual(t, len(set), 10000)
	for _, w := range []string{"password", "123456", "qwerty", "iloveyou", "admin", "letmein",
		"welcome", "monkey", "dragon", "football", "azerty", "motdepasse"} {
		assert.Contains(t, set, w)
	}
	for w := range set {
		require.Equal(t, strings.ToLower(w), w, "entries are lower-case")
	}
}

var cheap = HashParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestHashAndVerify(t *testing.T) {
	h := DefaultHashParams.Hash("correct horse battery")
	require.True(t, strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$"), h)
	ok, err := VerifyPassword(h, "correct horse battery")
	require.NoError(t, err)
	assert.True(t, ok)
	ok, err = VerifyPassword(h, "correct horse batterz")
	require.NoError(t, err)
	assert.False(t, ok)
	assert.NotEqual(t, h, DefaultHashParams.Hash("correct horse battery"), "salted")

	p, err := ParsePHC(h)
	require.NoError(t, err)
	assert.Equal(t, DefaultHashParams, p.Params)
	assert.Equal(t, h, p.String(), "parse and encode round trip")
}

func TestParsePHCErrors(t *testing.T) {
	good := cheap.Hash("x")
	parts := strings.Split(good, "$")
	with := func(i int, v string) string {
		c := append([]string(nil), parts...)
		c[i] = v
		return strings.Join(c, "$")
	}
	for name, s := range map[string]string{
		"empty":          "",
		"bcrypt":         "$2b$10$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz01234",
		"argon2i":        with(1, "argon2i"),
		"version 16":     with(2, "v=16"),
		"missing p":      with(3, "m=64,t=1"),
		"swapped":        with(3, "t=1,m=64,p=1"),
		"zero t":         with(3, "m=64,t=0,p=1"),
		"leading zero":   with(3, "m=064,t=1,p=1"),
		"negative":       with(3, "m=-64,t=1,p=1"),
		"huge memory":    with(3, "m=4194304,t=1,p=1"),
		"memory < 8p":    with(3, "m=8,t=1,p=2"),
		"huge time":      with(3, "m=64,t=1000,p=1"),
		"bad salt":       with(4, "!!!"),
		"short salt":     with(4, "AAAA"),
		"padded hash":    with(5, parts[5]+"="),
		"short hash":     with(5, "AAAAAAAA"),
		"extra field":    good + "$x",
		"no leading $":   strings.TrimPrefix(good, "$"),
		"not a number":   with(3, "m=x,t=1,p=1"),
		"overflow 32bit": with(3, "m=4294967296,t=1,p=1"),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParsePHC(s)
			require.ErrorIs(t, err, ErrInvalidHash)
			_, err = VerifyPassword(s, "x")
			require.ErrorIs(t, err, ErrInvalidHash)
		})
	}
}

func TestNeedsRehash(t *testing.T) {
	assert.True(t, NeedsRehash(cheap.Hash("x")), "weaker than the default")
	assert.False(t, NeedsRehash(DefaultHashParams.Hash("x")))
	assert.True(t, NeedsRehash("garbage"))
	stronger := DefaultHashParams
	stronger.Time = 3
	assert.True(t, stronger.NeedsRehash(DefaultHashParams.Hash("x")), "raised parameters")
	assert.False(t, cheap.NeedsRehash(DefaultHashParams.Hash("x")), "stronger than asked is fine")
}

func FuzzCheckPassword(f *testing.F) {
	for _, s := range []string{"", "password", "日本語日本語日本", "\xff\xfe", strings.Repeat("a", 200)} {
		f.Add(s, "user@example.org")
	}
	f.Fuzz(func(t *testing.T, password, email string) {
		_ = CheckPassword(password, email)
	})
}

func FuzzParsePHC(f *testing.F) {
	f.Add(cheap.Hash("x"))
	f.Add("$argon2id$v=19$m=64,t=1,p=1$$")
	f.Add("$argon2id$v=19$m=,t=,p=$AAAA$AAAA")
	f.Add("$$$$$")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePHC(s)
		if err != nil {
			return
		}
		// Whatever parses re-encodes to itself and stays within bounds.
		require.Equal(t, s, p.String())
		require.LessOrEqual(t, p.Params.Memory, uint32(maxMemoryKiB))
	})
}
