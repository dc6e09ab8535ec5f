package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/hcw-home/hcw/backend/internal/authz"
)

// Error codes of authentication and authorisation.
const (
	CodeUnauthenticated      = "unauthenticated"
	CodeForbidden            = "forbidden"
	CodeSecondFactorRequired = "second_factor_required"
)

// ErrNoCredentials means the request carries neither a session cookie nor
// an API key.
var ErrNoCredentials = errors.New("no credentials")

// ErrSecondFactorPending means the session has passed the password step
// only: it may complete or enrol the second factor and nothing else.
var ErrSecondFactorPending = errors.New("second factor pending")

// Authenticator turns a request's credentials into a principal.
type Authenticator interface {
	// Session resolves a session token. partial is true when the session
	// has passed the password step only.
	Session(ctx context.Context, token string) (p authz.Principal, partial bool, err error)
	// APIKey resolves an API key.
	APIKey(ctx context.Context, key string) (authz.Principal, error)
}

type principalKey struct{}

// PrincipalFrom returns the authenticated caller of an operation.
func PrincipalFrom(ctx context.Context) (authz.Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(authz.Principal)
	return p, ok
}

// SessionTokenFrom returns the session token the request carries, if any.
func SessionTokenFrom(r *http.Request) string {
	c, err := r.Cookie(SessionCookieName)
	if err != nil {
		return ""
	}
	return c.Value
}

// authorize resolves the caller of op and checks op's permission before h
// runs. Operations with AuthNone pass through.
func authorize(auth Authenticator, op Operation, h http.Handler) http.Handler {
	if op.Auth == AuthNone {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := resolve(r, auth, op)
		switch {
		case errors.Is(err, ErrSecondFactorPending):
			WriteError(w, http.StatusForbidden, CodeSecondFactorRequired, "complete the second factor first")
			return
		case err != nil:
			WriteError(w, http.StatusUnauthorized, CodeUnauthenticated, "sign in first")
			return
		}
		if !authz.Allowed(p.Role, op.Permission) {
			WriteError(w, http.StatusForbidden, CodeForbidden, "not allowed")
			return
		}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}

func resolve(r *http.Request, auth Authenticator, op Operation) (authz.Principal, error) {
	if auth == nil {
		return authz.Principal{}, ErrNoCredentials
	}
	if token := SessionTokenFrom(r); token != "" && op.Auth != AuthAPIKey {
		p, partial, err := auth.Session(r.Context(), token)
		if err != nil {
			return authz.Principal{}, err
		}
		if partial && !op.PartialSession {
			return authz.Principal{}, ErrSecondFactorPending
		}
		return p, nil
	}
	if key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && op.Auth != AuthSession {
		return auth.APIKey(r.Context(), key)
	}
	return authz.Principal{}, ErrNoCredentials
}
