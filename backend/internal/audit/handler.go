package audit

import (
	"context"
	"encoding/json"
	"net/http"
)

// Verifier is what VerifyHandler needs; *Store implements it.
type Verifier interface {
	Verify(ctx context.Context) (Result, error)
}

// ErrorWriter writes the API's one error shape (httpapi.WriteError); it is
// passed in so that httpapi can mount this handler without an import cycle.
type ErrorWriter func(w http.ResponseWriter, status int, code, message string)

// codeInternal matches httpapi.CodeInternal.
const codeInternal = "internal"

// VerifyHandler answers with the Result of v.Verify as JSON: 200 when the
// chain is intact, 409 when it is broken.
//
// It is not registered anywhere yet: the backend has no authentication. It
// gets mounted at GET /api/v1/admin/audit/verify behind the admin
// authorisation when sign-in lands, and should then also append an
// audit.verified event with the administrator as actor.
func VerifyHandler(v Verifier, writeError ErrorWriter) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res, err := v.Verify(r.Context())
		if err != nil {
			writeError(w, http.StatusInternalServerError, codeInternal, "audit verification failed")
			return
		}
		status := http.StatusOK
		if !res.Intact {
			status = http.StatusConflict
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(res)
	})
}
