package httpapi

import (
	"net/http"
	"strings"

	"github.com/hcw-home/hcw/backend/internal/clientinfo"
)

// SessionCookieName is the staff and participant session cookie. The
// __Host- prefix makes the browser refuse it unless it is Secure, has
// Path=/ and no Domain, so no sibling host can set or shadow it.
const SessionCookieName = "__Host-hcw_session"

// withOriginCheck refuses a state-changing API request whose Origin is not
// the app it is addressed to. SameSite=Lax already keeps the session cookie
// off cross-site POSTs; this is the second, server-side lock. Requests
// authenticated by an API key alone carry no cookie and no ambient
// authority, so they are exempt.
func withOriginCheck(appHosts []string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if safeMethod(r.Method) || !strings.HasPrefix(r.URL.Path, "/api/") || apiKeyOnly(r) {
			next.ServeHTTP(w, r)
			return
		}
		info, _ := clientinfo.FromContext(r.Context())
		if err := clientinfo.CheckOrigin(r.Header.Get("Origin"), info.Host, appHosts); err != nil {
			WriteError(w, http.StatusForbidden, CodeOriginRefused, "cross-origin request refused: "+err.Error())
			return
		}
		next.ServeHTTP(w, r)
	})
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

func apiKeyOnly(r *http.Request) bool {
	if _, err := r.Cookie(SessionCookieName); err == nil {
		return false
	}
	return strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ")
}
