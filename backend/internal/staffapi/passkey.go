package staffapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"time"

	"github.com/hcw-home/hcw/backend/internal/authz"
	"github.com/hcw-home/hcw/backend/internal/clientinfo"
	"github.com/hcw-home/hcw/backend/internal/httpapi"
	"github.com/hcw-home/hcw/backend/internal/signin"
)

// maxCredentialBody bounds a request carrying a PublicKeyCredential: an
// attestation with a certificate chain fits well within it.
const maxCredentialBody = 16 << 10

type passkeyRegistrationRequest struct {
	Name       string          `json:"name" doc:"a label for the passkey, 1 to 64 characters, e.g. work laptop"`
	Credential json.RawMessage `json:"credential" doc:"the PublicKeyCredential from navigator.credentials.create(), as its toJSON()"`
}

func (r passkeyRegistrationRequest) Validate() error {
	if _, err := signin.CleanPasskeyName(r.Name); err != nil {
		return httpapi.FieldError("name", "must be 1 to 64 printable characters")
	}
	return requireCredential(r.Credential)
}

type passkeyLoginRequest struct {
	Credential json.RawMessage `json:"credential" doc:"the PublicKeyCredential from navigator.credentials.get(), as its toJSON()"`
}

func (r passkeyLoginRequest) Validate() error { return requireCredential(r.Credential) }

func requireCredential(c json.RawMessage) error {
	if len(bytes.TrimSpace(c)) == 0 || bytes.Equal(bytes.TrimSpace(c), []byte("null")) {
		return httpapi.FieldError("credential", "is required")
	}
	return nil
}

type passkeyBody struct {
	ID         string     `json:"id" doc:"the credential ID, base64url"`
	Name       string     `json:"name"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
}

func passkeyOf(p signin.Passkey) passkeyBody {
	return passkeyBody{ID: p.ID, Name: p.Name, CreatedAt: p.CreatedAt, LastUsedAt: p.LastUsedAt}
}

type passkeyEnrolledBody struct {
	Passkey       passkeyBody  `json:"passkey"`
	Session       *sessionBody `json:"session,omitempty" doc:"the new full session, when this registration was the sign-in's enrolment"`
	RecoveryCodes []string     `json:"recovery_codes,omitempty" doc:"ten single-use codes, shown once; only when the user had none unused"`
}

type passkeyListBody struct {
	Passkeys []passkeyBody `json:"passkeys"`
}

func (a *API) mountPasskeys(rt *httpapi.Router) {
	tags := []string{"sign-in"}
	rt.HandleFunc(httpapi.Operation{
		Method: http.MethodPost, Path: "/api/v1/auth/passkeys/registration/options", ID: "beginPasskeyRegistration", Tags: tags,
		Summary: "Options for navigator.credentials.create() (under publicKey), for a passkey bound to this app's host. " +
			"A full session, or a password-level one enrolling its first factor.",
		Auth: httpapi.AuthSession, Permission: authz.PermSelf, PartialSession: true,
		Response: json.RawMessage{}, Errors: []int{401, 403, 409},
	}, a.beginPasskeyRegistration)
	rt.HandleFunc(httpapi.Operation{
		Method: http.MethodPost, Path: "/api/v1/auth/passkeys/registration", ID: "finishPasskeyRegistration", Tags: tags,
		Summary: "Register the passkey created with the options. As an enrolment it makes the session full (new cookie); " +
			"recovery codes come once when the user has none.",
		Auth: httpapi.AuthSession, Permission: authz.PermSelf, PartialSession: true,
		Request: passkeyRegistrationRequest{}, Response: passkeyEnrolledBody{}, Status: http.StatusCreated,
		Errors: []int{400, 401, 403, 409, 413, 415, 429}, MaxBody: maxCredentialBody,
	}, a.finishPasskeyRegistration)
	rt.HandleFunc(httpapi.Operation{
		Method: http.MethodPost, Path: "/api/v1/auth/passkeys/login/options", ID: "beginPasskeyLogin", Tags: tags,
		Summary: "Second step with a passkey: options for navigator.credentials.get() (under publicKey).",
		Auth:    httpapi.AuthSession, Permission: authz.PermSelf, PartialSession: true,
		Response: json.RawMessage{}, Errors: []int{401, 403, 409},
	}, a.beginPasskeyLogin)
	rt.HandleFunc(httpapi.Operation{
		Method: http.MethodPost, Path: "/api/v1/auth/passkeys/login", ID: "completePasskeyLogin", Tags: tags,
		Summary: "Second step with a passkey: the assertion. Rotates the session cookie to a full session.",
		Auth:    httpapi.AuthSession, Permission: authz.PermSelf, PartialSession: true,
		Request: passkeyLoginRequest{}, Response: sessionBody{},
		Errors: []int{400, 401, 403, 409, 413, 415, 429}, MaxBody: maxCredentialBody,
	}, a.completePasskeyLogin)

	me := []string{"me"}
	rt.HandleFunc(httpapi.Operation{
		Method: http.MethodGet, Path: "/api/v1/me/passkeys", ID: "listMyPasskeys", Tags: me,
		Summary: "One's passkeys, oldest first.",
		Auth:    httpapi.AuthSession, Permission: authz.PermSelf,
		Response: passkeyListBody{}, Errors: []int{401, 403},
	}, a.listPasskeys)
	rt.HandleFunc(httpapi.Operation{
		Method: http.MethodPost, Path: "/api/v1/me/passkeys/{id}/delete", ID: "deleteMyPasskey", Tags: me,
		Summary: "Remove one of one's passkeys; refused (409) when it is a doctor's or an admin's last second factor.",
		Auth:    httpapi.AuthSession, Permission: authz.PermSelf,
		Status: http.StatusNoContent, Errors: []int{401, 403, 404, 409},
	}, a.deletePasskey)
}

// effectiveHost is the host[:port] the browser talks to: the passkey's
// relying party.
func effectiveHost(r *http.Request) string {
	info, _ := clientinfo.FromContext(r.Context())
	return info.Host
}

func (a *API) beginPasskeyRegistration(w http.ResponseWriter, r *http.Request) {
	opts, err := a.p.SignIn.BeginPasskeyRegistration(r.Context(), signin.TokenFromRequest(r), effectiveHost(r))
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, opts)
}

func (a *API) finishPasskeyRegistration(w http.ResponseWriter, r *http.Request) {
	var req passkeyRegistrationRequest
	if err := httpapi.DecodeJSON(w, r, maxCredentialBody, &req); err != nil {
		a.writeErr(w, r, err)
		return
	}
	res, err := a.p.SignIn.FinishPasskeyRegistration(r.Context(), signin.TokenFromRequest(r), effectiveHost(r),
		req.Name, req.Credential, client(r))
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	body := passkeyEnrolledBody{Passkey: passkeyOf(res.Passkey), RecoveryCodes: res.RecoveryCodes}
	if res.Token != "" {
		signin.SetSessionCookie(w, res.Token, res.Session.ExpiresAt)
		s := sessionOf(res.Result)
		body.Session = &s
	}
	httpapi.WriteJSON(w, http.StatusCreated, body)
}

func (a *API) beginPasskeyLogin(w http.ResponseWriter, r *http.Request) {
	opts, err := a.p.SignIn.BeginPasskeyLogin(r.Context(), signin.TokenFromRequest(r), effectiveHost(r))
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, opts)
}

func (a *API) completePasskeyLogin(w http.ResponseWriter, r *http.Request) {
	var req passkeyLoginRequest
	if err := httpapi.DecodeJSON(w, r, maxCredentialBody, &req); err != nil {
		a.writeErr(w, r, err)
		return
	}
	res, err := a.p.SignIn.FinishPasskeyLogin(r.Context(), signin.TokenFromRequest(r), effectiveHost(r), req.Credential, client(r))
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	signin.SetSessionCookie(w, res.Token, res.Session.ExpiresAt)
	httpapi.WriteJSON(w, http.StatusOK, sessionOf(res))
}

func (a *API) listPasskeys(w http.ResponseWriter, r *http.Request) {
	p, _ := httpapi.PrincipalFrom(r.Context())
	list, err := a.p.SignIn.ListPasskeys(r.Context(), p.UserID)
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	body := passkeyListBody{Passkeys: make([]passkeyBody, len(list))}
	for i, pk := range list {
		body.Passkeys[i] = passkeyOf(pk)
	}
	httpapi.WriteJSON(w, http.StatusOK, body)
}

func (a *API) deletePasskey(w http.ResponseWriter, r *http.Request) {
	p, _ := httpapi.PrincipalFrom(r.Context())
	if err := a.p.SignIn.DeletePasskey(r.Context(), p.UserID, r.PathValue("id"), client(r)); err != nil {
		a.writeErr(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
