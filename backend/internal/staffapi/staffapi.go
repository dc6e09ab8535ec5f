// Package staffapi is the HTTP surface of staff accounts: sign-in with a
// second factor, sessions, one's own account, and the administration of
// users and API keys. Handlers decode, validate, call the account and
// signin packages, and answer in the API's shapes; every operation is
// documented through httpapi.Router and authorised through package authz.
package staffapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/hcw-home/hcw/backend/internal/account"
	"github.com/hcw-home/hcw/backend/internal/audit"
	"github.com/hcw-home/hcw/backend/internal/authz"
	"github.com/hcw-home/hcw/backend/internal/clientinfo"
	"github.com/hcw-home/hcw/backend/internal/httpapi"
	"github.com/hcw-home/hcw/backend/internal/mail"
	"github.com/hcw-home/hcw/backend/internal/medianode"
	"github.com/hcw-home/hcw/backend/internal/signin"
)

// Params are the API's dependencies.
type Params struct {
	Accounts *account.Store
	SignIn   *signin.Service
	Audit    *audit.Store
	// Mail sends setup and reset links; mail.Disabled when not configured.
	Mail   mail.Sender
	Logger *slog.Logger
	// Hosts build the links in mails: admins use the admin app, other
	// staff the doctor app.
	DoctorHost, AdminHost string
	// Metrics counts sign-in failures (optional).
	Metrics *httpapi.Metrics
	// NurseSelfRegistration opens POST /api/v1/auth/nurse-registration.
	NurseSelfRegistration bool
	// Queues fills doctors' and nurses' principals with their queues
	// (optional: without it they see no queue).
	Queues QueueAccess
	// MediaNodes lists the media node pool for administrators (optional:
	// without it the list is empty).
	MediaNodes MediaNodes
}

// MediaNodes lists the media node pool (package medianode implements it).
type MediaNodes interface {
	Nodes(ctx context.Context) ([]medianode.Node, error)
}

// QueueAccess loads a staff member's "all queues" switch and queue ids in
// one query (package consultation implements it).
type QueueAccess interface {
	QueueAccess(ctx context.Context, userID string) (all bool, queueIDs []string, err error)
}

// API holds the handlers.
type API struct {
	p Params
}

// New returns the API.
func New(p Params) *API { return &API{p: p} }

// Mount registers every operation of the package.
func (a *API) Mount(rt *httpapi.Router) {
	a.mountAuth(rt)
	a.mountRegistration(rt)
	a.mountPasskeys(rt)
	a.mountSelf(rt)
	a.mountAdmin(rt)
	a.mountAudit(rt)
	a.mountMediaNodes(rt)
}

// Authenticator resolves sessions and API keys into principals.
func (a *API) Authenticator() httpapi.Authenticator { return authenticator{a} }

type authenticator struct{ a *API }

func (au authenticator) Session(ctx context.Context, token string) (authz.Principal, bool, error) {
	s, err := au.a.p.SignIn.Validate(ctx, token)
	if err != nil {
		return authz.Principal{}, false, err
	}
	p := authz.Principal{Kind: "user", ID: s.User.ID, UserID: s.User.ID, Role: authz.Role(s.User.Role)}
	partial := s.Level != signin.LevelFull
	// Only doctors and nurses have per-queue rights; admins see every
	// queue and the others none, so they cost no query.
	if au.a.p.Queues != nil && !partial && (p.Role == authz.RoleDoctor || p.Role == authz.RoleNurse) {
		if p.AllQueues, p.QueueIDs, err = au.a.p.Queues.QueueAccess(ctx, p.UserID); err != nil {
			return authz.Principal{}, false, fmt.Errorf("load queues: %w", err)
		}
	}
	return p, partial, nil
}

func (au authenticator) APIKey(ctx context.Context, key string) (authz.Principal, error) {
	u, k, err := au.a.p.Accounts.AuthenticateAPIKey(ctx, key)
	if err != nil {
		return authz.Principal{}, err
	}
	return authz.Principal{Kind: "api_key", ID: k.ID, UserID: u.ID, Role: authz.Role(k.Role)}, nil
}

// Accounts adapts the account store to what signin needs.
func Accounts(s *account.Store) signin.Accounts { return accountsAdapter{s} }

type accountsAdapter struct{ s *account.Store }

func (ad accountsAdapter) Authenticate(ctx context.Context, email, password string) (signin.UserRef, error) {
	u, err := ad.s.Authenticate(ctx, email, password)
	switch {
	case errors.Is(err, account.ErrInvalidCredentials):
		return signin.UserRef{}, signin.ErrInvalidCredentials
	case errors.Is(err, account.ErrDisabled), errors.Is(err, account.ErrPendingApproval):
		// The password was right: signin records and refuses the inactive
		// account under its id.
		if u, err = ad.s.ByEmail(ctx, email); err != nil {
			return signin.UserRef{}, err
		}
	case err != nil:
		return signin.UserRef{}, err
	}
	return signin.UserRef{ID: u.ID, Email: u.Email, Role: string(u.Role), Status: string(u.Status)}, nil
}

// client describes the caller for the signin package.
func client(r *http.Request) signin.Client {
	info, _ := clientinfo.FromContext(r.Context())
	return signin.Client{IP: info.IP, UserAgent: r.UserAgent()}
}

// actor is the audit actor of an authenticated request.
func actor(r *http.Request) account.Actor {
	info, _ := clientinfo.FromContext(r.Context())
	p, _ := httpapi.PrincipalFrom(r.Context())
	if p.Kind == "api_key" {
		return account.Actor{Type: audit.ActorAPIKey, ID: p.ID, ClientIP: info.IP}
	}
	return account.UserActor(p.UserID, info.IP)
}

// Error codes of this API.
const (
	CodeInvalidCredentials = "invalid_credentials"
	CodeThrottled          = "throttled"
	CodeAccountNotActive   = "account_not_active"
	CodeInvalidCode        = "invalid_code"
	CodeEmailTaken         = "email_taken"
	CodeWeakPassword       = "weak_password"
	CodeInvalidTransition  = "invalid_transition"
	CodeLastAdmin          = "last_admin"
	CodeTokenInvalid       = "token_invalid"
	CodeFactorState        = "factor_state"
	CodeRegistrationClosed = "registration_closed"
	CodeInvalidPasskey     = "invalid_passkey"
	CodePasskeyHost        = "passkey_host"
	CodeLastFactor         = "last_factor"
	CodeAPIKeyRevoked      = "api_key_revoked"
)

// writeErr maps the business errors to the API's answers, in one place.
func (a *API) writeErr(w http.ResponseWriter, r *http.Request, err error) {
	var fe *account.FieldError
	var re *httpapi.RequestError
	var afe *audit.FieldError
	switch {
	case errors.As(err, &re):
		httpapi.WriteRequestError(w, re)
	case errors.As(err, &fe):
		httpapi.WriteRequestError(w, httpapi.FieldError(fe.Field, "%s", fe.Reason))
	case errors.As(err, &afe):
		httpapi.WriteRequestError(w, httpapi.FieldError(afe.Field, "%s", afe.Reason))
	case errors.Is(err, account.ErrPasswordTooShort), errors.Is(err, account.ErrPasswordTooLong),
		errors.Is(err, account.ErrPasswordCommon), errors.Is(err, account.ErrPasswordContainsEmail),
		errors.Is(err, account.ErrPasswordEncoding):
		httpapi.WriteRequestError(w, &httpapi.RequestError{Status: http.StatusBadRequest, Code: CodeWeakPassword, Field: "password", Message: err.Error()})
	case errors.Is(err, signin.ErrThrottled):
		if d, ok := signin.RetryAfter(err); ok {
			w.Header().Set("Retry-After", strconv.Itoa(int(d.Seconds())))
		}
		a.countFailure("throttled")
		httpapi.WriteError(w, http.StatusTooManyRequests, CodeThrottled, "too many attempts; try again later")
	case errors.Is(err, signin.ErrInvalidCredentials), errors.Is(err, account.ErrInvalidCredentials):
		a.countFailure("invalid_credentials")
		httpapi.WriteError(w, http.StatusUnauthorized, CodeInvalidCredentials, "wrong email or password")
	case errors.Is(err, signin.ErrAccountNotActive):
		a.countFailure("not_active")
		httpapi.WriteError(w, http.StatusForbidden, CodeAccountNotActive, "this account is disabled or awaits approval")
	case errors.Is(err, signin.ErrInvalidCode):
		a.countFailure("invalid_code")
		httpapi.WriteError(w, http.StatusUnauthorized, CodeInvalidCode, "wrong or used code")
	case errors.Is(err, signin.ErrInvalidPasskey):
		a.countFailure("invalid_passkey")
		httpapi.WriteError(w, http.StatusUnauthorized, CodeInvalidPasskey, "the passkey was refused")
	case errors.Is(err, signin.ErrMalformedCredential):
		httpapi.WriteRequestError(w, httpapi.FieldError("credential", "is not a PublicKeyCredential in JSON form"))
	case errors.Is(err, signin.ErrInvalidPasskeyName):
		httpapi.WriteRequestError(w, httpapi.FieldError("name", "must be 1 to 64 printable characters"))
	case errors.Is(err, signin.ErrPasskeyHost):
		httpapi.WriteError(w, http.StatusForbidden, CodePasskeyHost, "passkeys are available on the doctor and admin apps only")
	case errors.Is(err, signin.ErrLastFactor):
		httpapi.WriteError(w, http.StatusConflict, CodeLastFactor, "this is your last second factor; add another one first")
	case errors.Is(err, signin.ErrPasskeyNotFound):
		httpapi.WriteError(w, http.StatusNotFound, httpapi.CodeNotFound, "no such resource")
	case errors.Is(err, signin.ErrNoPendingCeremony), errors.Is(err, signin.ErrPasskeyExists),
		errors.Is(err, signin.ErrPasskeyLimit):
		httpapi.WriteError(w, http.StatusConflict, CodeFactorState, err.Error())
	case errors.Is(err, signin.ErrInvalidSession):
		httpapi.WriteError(w, http.StatusUnauthorized, httpapi.CodeUnauthenticated, "sign in first")
	case errors.Is(err, signin.ErrNotEnrolled), errors.Is(err, signin.ErrAlreadyEnrolled),
		errors.Is(err, signin.ErrNoPendingEnrolment), errors.Is(err, signin.ErrWrongLevel):
		httpapi.WriteError(w, http.StatusConflict, CodeFactorState, err.Error())
	case errors.Is(err, account.ErrNotFound):
		httpapi.WriteError(w, http.StatusNotFound, httpapi.CodeNotFound, "no such resource")
	case errors.Is(err, account.ErrEmailTaken):
		httpapi.WriteRequestError(w, &httpapi.RequestError{Status: http.StatusConflict, Code: CodeEmailTaken, Field: "email", Message: "an account with this email address already exists"})
	case errors.Is(err, account.ErrInvalidTransition):
		httpapi.WriteError(w, http.StatusConflict, CodeInvalidTransition, "the account is not in a state that allows this")
	case errors.Is(err, account.ErrLastAdmin):
		httpapi.WriteError(w, http.StatusConflict, CodeLastAdmin, "the last active administrator cannot be demoted or disabled")
	case errors.Is(err, account.ErrInvalidCursor):
		httpapi.WriteRequestError(w, httpapi.FieldError("cursor", "is not a cursor this API gave"))
	case errors.Is(err, account.ErrAPIKeyRevoked):
		httpapi.WriteError(w, http.StatusConflict, CodeAPIKeyRevoked, "this API key is already revoked")
	case errors.Is(err, account.ErrDisabled), errors.Is(err, account.ErrPendingApproval):
		httpapi.WriteError(w, http.StatusConflict, CodeAccountNotActive, "the account is disabled or awaits approval")
	case errors.Is(err, account.ErrInvalidInput):
		httpapi.WriteRequestError(w, &httpapi.RequestError{Status: http.StatusBadRequest, Code: httpapi.CodeInvalidRequest, Message: err.Error()})
	case errors.Is(err, account.ErrTokenInvalid), errors.Is(err, account.ErrTokenUsed),
		errors.Is(err, account.ErrTokenExpired), errors.Is(err, account.ErrTokenPurpose):
		httpapi.WriteError(w, http.StatusBadRequest, CodeTokenInvalid, "this link is invalid, used or expired; ask for a new one")
	default:
		a.p.Logger.Error("request failed", "path", r.URL.Path, "error", err.Error())
		httpapi.WriteError(w, http.StatusInternalServerError, httpapi.CodeInternal, "internal error")
	}
}

func (a *API) countFailure(reason string) {
	if a.p.Metrics != nil {
		a.p.Metrics.SignInFailures.WithLabelValues(reason).Inc()
	}
}
