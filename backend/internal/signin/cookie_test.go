package signin_test

import (
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/backend/internal/signin"
)

func attrs(t *testing.T, header string) (string, []string) {
	t.Helper()
	parts := strings.Split(header, "; ")
	var names []string
	for _, p := range parts[1:] {
		name, _, _ := strings.Cut(p, "=")
		names = append(names, name)
	}
	sort.Strings(names)
	return parts[0], names
}

func TestSetSessionCookie(t *testing.T) {
	tok := strings.Repeat("A", 43)
	expires := time.Now().Add(2 * time.Hour).UTC().Truncate(time.Second)
	w := httptest.NewRecorder()
	signin.SetSessionCookie(w, tok, expires)
	h := w.Result().Header.Values("Set-Cookie")
	require.Len(t, h, 1)
	first, names := attrs(t, h[0])
	assert.Equal(t, "__Host-hcw_session="+tok, first)
	assert.Equal(t, []string{"Expires", "HttpOnly", "Max-Age", "Path", "SameSite", "Secure"}, names)
	assert.Contains(t, h[0], "; Path=/;")
	assert.Contains(t, h[0], "; SameSite=Lax")
	assert.Contains(t, h[0], "; Expires="+expires.Format(http.TimeFormat))
	assert.Regexp(t, `; Max-Age=(7200|7199);`, h[0])
	assert.NotContains(t, strings.ToLower(h[0]), "domain")

	// The browser sends it back and TokenFromRequest finds it.
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Cookie", "__Host-hcw_session="+tok)
	assert.Equal(t, tok, signin.TokenFromRequest(r))
}

func TestClearSessionCookie(t *testing.T) {
	w := httptest.NewRecorder()
	signin.ClearSessionCookie(w)
	h := w.Result().Header.Values("Set-Cookie")
	require.Len(t, h, 1)
	first, names := attrs(t, h[0])
	assert.Equal(t, "__Host-hcw_session=", first)
	assert.Equal(t, []string{"Expires", "HttpOnly", "Max-Age", "Path", "SameSite", "Secure"}, names)
	assert.Contains(t, h[0], "Max-Age=0")
}

func TestTokenFromRequestRefusesJunk(t *testing.T) {
	for _, v := range []string{"", "short", strings.Repeat("A", 42), strings.Repeat("A", 44), strings.Repeat("+", 43)} {
		r := httptest.NewRequest("GET", "/", nil)
		r.AddCookie(&http.Cookie{Name: signin.CookieName, Value: v})
		assert.Empty(t, signin.TokenFromRequest(r), "%q", v)
	}
	r := httptest.NewRequest("GET", "/", nil)
	assert.Empty(t, signin.TokenFromRequest(r))
}
