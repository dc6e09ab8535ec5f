package signin

import (
	"net/http"
	"time"
)

// CookieName is the session cookie. The __Host- prefix makes browsers
// refuse it unless it is Secure, has Path=/ and no Domain, so no sibling
// sub-domain can set or shadow it.
const CookieName = "__Host-hcw_session"

// SetSessionCookie writes the session cookie: Path=/, Secure, HttpOnly,
// SameSite=Lax, no Domain, expiring at the session's absolute expiry.
// SameSite=Lax (not Strict) so that a link from an e-mail lands signed in;
// state-changing requests are not GETs and carry their own CSRF defence.
func SetSessionCookie(w http.ResponseWriter, token string, expires time.Time) {
	maxAge := int(time.Until(expires).Round(time.Second) / time.Second)
	if maxAge <= 0 {
		ClearSessionCookie(w)
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name:     CookieName,
		Value:    token,
		Path:     "/",
		Expires:  expires,
		MaxAge:   maxAge,
		Secure:   true,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	})
}

// ClearSessionCookie tells the browser to drop the session cookie.
func ClearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name:     CookieName,
		Value:    "",
		Path:     "/",
		Expires:  time.Unix(0, 0),
		MaxAge:   -1,
		Secure:   true,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	})
}

// TokenFromRequest returns the session token from the cookie, or "" when
// there is none or it cannot be a token (wrong length or alphabet), so that
// junk never reaches the database.
func TokenFromRequest(r *http.Request) string {
	c, err := r.Cookie(CookieName)
	if err != nil || !wellFormedToken(c.Value) {
		return ""
	}
	return c.Value
}
