package staffapi

import (
	"encoding/base64"
	"net/http"
	"strings"
	"time"

	"github.com/hcw-home/hcw/backend/internal/account"
	"github.com/hcw-home/hcw/backend/internal/authz"
	"github.com/hcw-home/hcw/backend/internal/httpapi"
	"github.com/hcw-home/hcw/backend/internal/signin"
)

type signInRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

func (r signInRequest) Validate() error {
	if strings.TrimSpace(r.Email) == "" {
		return httpapi.FieldError("email", "is required")
	}
	if r.Password == "" {
		return httpapi.FieldError("password", "is required")
	}
	if len(r.Email) > 254 || len(r.Password) > 1024 {
		return httpapi.FieldError("", "too long")
	}
	return nil
}

type codeRequest struct {
	Code string `json:"code" doc:"a 6-digit TOTP code, or a recovery code"`
}

func (r codeRequest) Validate() error {
	if r.Code == "" || len(r.Code) > 64 {
		return httpapi.FieldError("code", "is required")
	}
	return nil
}

// sessionBody is the state of the caller's session after a sign-in step.
type sessionBody struct {
	Level     string    `json:"level" doc:"password (second factor owed) or full"`
	Next      string    `json:"next,omitempty" doc:"verify: send a code or use a passkey; enrol: set up TOTP or a passkey first"`
	UserID    string    `json:"user_id"`
	Role      string    `json:"role"`
	ExpiresAt time.Time `json:"expires_at"`
}

func sessionOf(res signin.Result) sessionBody {
	return sessionBody{Level: string(res.Session.Level), Next: string(res.Next), UserID: res.Session.User.ID,
		Role: res.Session.User.Role, ExpiresAt: res.Session.ExpiresAt}
}

type enrolmentBody struct {
	OTPAuthURI string `json:"otpauth_uri" doc:"for authenticator apps; shown as a QR code"`
	QRPNG      string `json:"qr_png" doc:"the URI as a PNG QR code, base64"`
	Secret     string `json:"secret" doc:"the base32 secret, for manual entry"`
}

type enrolledBody struct {
	Session       sessionBody `json:"session"`
	RecoveryCodes []string    `json:"recovery_codes" doc:"ten single-use codes, shown once"`
}

type setPasswordRequest struct {
	Token    string `json:"token" doc:"from the setup or reset link (after #)"`
	Purpose  string `json:"purpose" doc:"setup or reset"`
	Password string `json:"password"`
}

func (r setPasswordRequest) Validate() error {
	if r.Token == "" || len(r.Token) > 128 {
		return httpapi.FieldError("token", "is required")
	}
	if r.Purpose != string(account.PurposeSetup) && r.Purpose != string(account.PurposeReset) {
		return httpapi.FieldError("purpose", "must be setup or reset")
	}
	if r.Password == "" {
		return httpapi.FieldError("password", "is required")
	}
	return nil
}

type resetRequest struct {
	Email string `json:"email"`
}

func (r resetRequest) Validate() error {
	if strings.TrimSpace(r.Email) == "" || len(r.Email) > 254 {
		return httpapi.FieldError("email", "is required")
	}
	return nil
}

func (a *API) mountAuth(rt *httpapi.Router) {
	tags := []string{"sign-in"}
	rt.HandleFunc(httpapi.Operation{
		Method: http.MethodPost, Path: "/api/v1/auth/sign-in", ID: "signIn", Tags: tags,
		Summary: "Password step of the sign-in. Sets the session cookie; doctors and admins then owe a second factor.",
		Auth:    httpapi.AuthNone, Request: signInRequest{}, Response: sessionBody{},
		Errors: []int{400, 401, 403, 429},
	}, a.signIn)
	rt.HandleFunc(httpapi.Operation{
		Method: http.MethodPost, Path: "/api/v1/auth/second-factor", ID: "completeSecondFactor", Tags: tags,
		Summary: "Second step: a TOTP or recovery code. Rotates the session cookie to a full session.",
		Auth:    httpapi.AuthSession, Permission: authz.PermSelf, PartialSession: true,
		Request: codeRequest{}, Response: sessionBody{}, Errors: []int{400, 401, 403, 409, 429},
	}, a.secondFactor)
	rt.HandleFunc(httpapi.Operation{
		Method: http.MethodPost, Path: "/api/v1/auth/totp/enrolment", ID: "beginTOTPEnrolment", Tags: tags,
		Summary: "Start TOTP enrolment: a new secret as an otpauth URI and a QR code, pending until confirmed.",
		Auth:    httpapi.AuthSession, Permission: authz.PermSelf, PartialSession: true,
		Response: enrolmentBody{}, Status: http.StatusCreated, Errors: []int{401, 409},
	}, a.beginEnrolment)
	rt.HandleFunc(httpapi.Operation{
		Method: http.MethodPost, Path: "/api/v1/auth/totp/confirmation", ID: "confirmTOTPEnrolment", Tags: tags,
		Summary: "Confirm TOTP enrolment with one code; returns ten recovery codes once and a full session.",
		Auth:    httpapi.AuthSession, Permission: authz.PermSelf, PartialSession: true,
		Request: codeRequest{}, Response: enrolledBody{}, Errors: []int{400, 401, 409, 429},
	}, a.confirmEnrolment)
	rt.HandleFunc(httpapi.Operation{
		Method: http.MethodPost, Path: "/api/v1/auth/sign-out", ID: "signOut", Tags: tags,
		Summary: "End this session.",
		Auth:    httpapi.AuthSession, Permission: authz.PermSelf, PartialSession: true,
		Status: http.StatusNoContent, Errors: []int{401},
	}, a.signOut)
	rt.HandleFunc(httpapi.Operation{
		Method: http.MethodPost, Path: "/api/v1/auth/sign-out-everywhere", ID: "signOutEverywhere", Tags: tags,
		Summary: "End every session of the caller and close their sockets.",
		Auth:    httpapi.AuthSession, Permission: authz.PermSelf,
		Status: http.StatusNoContent, Errors: []int{401, 403},
	}, a.signOutEverywhere)
	rt.HandleFunc(httpapi.Operation{
		Method: http.MethodPost, Path: "/api/v1/auth/password", ID: "setPasswordWithToken", Tags: tags,
		Summary: "Set a password with a setup or reset link's token (single use).",
		Auth:    httpapi.AuthNone, Request: setPasswordRequest{},
		Status: http.StatusNoContent, Errors: []int{400},
	}, a.setPasswordWithToken)
	rt.HandleFunc(httpapi.Operation{
		Method: http.MethodPost, Path: "/api/v1/auth/password-reset", ID: "requestPasswordReset", Tags: tags,
		Summary: "Mail a 30-minute reset link if the address belongs to an active account. Always answers 202.",
		Auth:    httpapi.AuthNone, Request: resetRequest{},
		Status: http.StatusAccepted, Errors: []int{400},
	}, a.requestReset)
}

func (a *API) signIn(w http.ResponseWriter, r *http.Request) {
	var req signInRequest
	if err := httpapi.DecodeJSON(w, r, httpapi.DefaultMaxBody, &req); err != nil {
		a.writeErr(w, r, err)
		return
	}
	res, err := a.p.SignIn.SignIn(r.Context(), req.Email, req.Password, client(r))
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	// A session the browser still held ends here: one sign-in, one session.
	if old := signin.TokenFromRequest(r); old != "" {
		_ = a.p.SignIn.Revoke(r.Context(), old, client(r))
	}
	signin.SetSessionCookie(w, res.Token, res.Session.ExpiresAt)
	httpapi.WriteJSON(w, http.StatusOK, sessionOf(res))
}

func (a *API) secondFactor(w http.ResponseWriter, r *http.Request) {
	var req codeRequest
	if err := httpapi.DecodeJSON(w, r, httpapi.DefaultMaxBody, &req); err != nil {
		a.writeErr(w, r, err)
		return
	}
	res, err := a.p.SignIn.CompleteSecondFactor(r.Context(), signin.TokenFromRequest(r), req.Code, client(r))
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	signin.SetSessionCookie(w, res.Token, res.Session.ExpiresAt)
	httpapi.WriteJSON(w, http.StatusOK, sessionOf(res))
}

func (a *API) beginEnrolment(w http.ResponseWriter, r *http.Request) {
	e, err := a.p.SignIn.BeginEnrolment(r.Context(), signin.TokenFromRequest(r))
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusCreated, enrolmentBody{OTPAuthURI: e.URI, QRPNG: base64.StdEncoding.EncodeToString(e.QRPNG), Secret: e.Secret})
}

func (a *API) confirmEnrolment(w http.ResponseWriter, r *http.Request) {
	var req codeRequest
	if err := httpapi.DecodeJSON(w, r, httpapi.DefaultMaxBody, &req); err != nil {
		a.writeErr(w, r, err)
		return
	}
	res, err := a.p.SignIn.ConfirmEnrolment(r.Context(), signin.TokenFromRequest(r), req.Code, client(r))
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	signin.SetSessionCookie(w, res.Token, res.Session.ExpiresAt)
	httpapi.WriteJSON(w, http.StatusOK, enrolledBody{Session: sessionOf(res.Result), RecoveryCodes: res.RecoveryCodes})
}

func (a *API) signOut(w http.ResponseWriter, r *http.Request) {
	if err := a.p.SignIn.Revoke(r.Context(), signin.TokenFromRequest(r), client(r)); err != nil {
		a.writeErr(w, r, err)
		return
	}
	signin.ClearSessionCookie(w)
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) signOutEverywhere(w http.ResponseWriter, r *http.Request) {
	p, _ := httpapi.PrincipalFrom(r.Context())
	if _, err := a.p.SignIn.RevokeAllForUser(r.Context(), p.UserID, signin.ReasonSignOutEverywhere); err != nil {
		a.writeErr(w, r, err)
		return
	}
	signin.ClearSessionCookie(w)
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) setPasswordWithToken(w http.ResponseWriter, r *http.Request) {
	var req setPasswordRequest
	if err := httpapi.DecodeJSON(w, r, httpapi.DefaultMaxBody, &req); err != nil {
		a.writeErr(w, r, err)
		return
	}
	u, err := a.p.Accounts.ConsumeToken(r.Context(), req.Token, account.Purpose(req.Purpose), req.Password, client(r).IP)
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	// A new password ends every session that the old one opened.
	if _, err := a.p.SignIn.RevokeAllForUser(r.Context(), u.ID, signin.ReasonPasswordChanged); err != nil {
		a.writeErr(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) requestReset(w http.ResponseWriter, r *http.Request) {
	var req resetRequest
	if err := httpapi.DecodeJSON(w, r, httpapi.DefaultMaxBody, &req); err != nil {
		a.writeErr(w, r, err)
		return
	}
	// Whether the address is known never shows in the answer.
	w.WriteHeader(http.StatusAccepted)
	u, err := a.p.Accounts.ByEmail(r.Context(), req.Email)
	if err != nil || u.Status != account.StatusActive || u.Role == account.RoleScheduler {
		return
	}
	token, expires, err := a.p.Accounts.IssueToken(r.Context(), account.SystemActor(), u.ID, account.PurposeReset, account.DefaultResetTTL)
	if err != nil {
		a.p.Logger.Error("password reset: issue token", "error", err.Error())
		return
	}
	a.sendLink(r, u, "reset", token, expires)
}
