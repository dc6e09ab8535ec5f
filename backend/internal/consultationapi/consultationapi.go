// Package consultationapi is the HTTP surface of queues, invites and
// participants: the admin's queue administration, the staff's invites,
// the public redemption of an invite link and the participant's view of
// their consultation. Handlers decode, validate, call package
// consultation and answer in the API's shapes; every operation is
// documented through httpapi.Router and authorised through package authz.
//
// An invite's token reaches the server in a JSON body only (the patient
// app reads it from its /i/<token> path and posts it), never in a URL the
// backend sees, and nothing here logs a body.
package consultationapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/hcw-home/hcw/backend/internal/audit"
	"github.com/hcw-home/hcw/backend/internal/authz"
	"github.com/hcw-home/hcw/backend/internal/clientinfo"
	"github.com/hcw-home/hcw/backend/internal/consultation"
	"github.com/hcw-home/hcw/backend/internal/httpapi"
	"github.com/hcw-home/hcw/backend/internal/signin"
)

// Params are the API's dependencies.
type Params struct {
	Consultations *consultation.Service
	Logger        *slog.Logger
}

// API holds the handlers.
type API struct {
	p Params
}

// New returns the API.
func New(p Params) *API { return &API{p: p} }

// Mount registers every operation of the package.
func (a *API) Mount(rt *httpapi.Router) {
	a.mountQueues(rt)
	a.mountInvites(rt)
	a.mountParticipant(rt)
	a.mountLifecycle(rt)
	a.mountChat(rt)
	a.mountParticipants(rt)
	a.mountCalls(rt)
	a.mountFeedback(rt)
	a.mountInterpreters(rt)
}

// Authenticator chains staff sessions and participant sessions, which
// share the session cookie: a token that is no staff session is tried as
// a participant session. API keys are staff's.
func Authenticator(staff httpapi.Authenticator, c *consultation.Service) httpapi.Authenticator {
	return chain{staff: staff, c: c}
}

type chain struct {
	staff httpapi.Authenticator
	c     *consultation.Service
}

func (ch chain) Session(ctx context.Context, token string) (authz.Principal, bool, error) {
	p, partial, err := ch.staff.Session(ctx, token)
	if err == nil || !errors.Is(err, signin.ErrInvalidSession) {
		return p, partial, err
	}
	pp, perr := ch.c.ParticipantPrincipal(ctx, token)
	if perr != nil {
		if errors.Is(perr, consultation.ErrInvalidSession) {
			return authz.Principal{}, false, err
		}
		return authz.Principal{}, false, perr
	}
	return pp, false, nil
}

func (ch chain) APIKey(ctx context.Context, key string) (authz.Principal, error) {
	return ch.staff.APIKey(ctx, key)
}

// SocketAuthenticator resolves the caller of a /ws request from its
// session cookie through auth (staff sessions, then participant
// sessions); a session that has passed the password step only is refused.
func SocketAuthenticator(auth httpapi.Authenticator) func(*http.Request) (authz.Principal, error) {
	return func(r *http.Request) (authz.Principal, error) {
		token := httpapi.SessionTokenFrom(r)
		if token == "" {
			return authz.Principal{}, httpapi.ErrNoCredentials
		}
		p, partial, err := auth.Session(r.Context(), token)
		if err != nil {
			return authz.Principal{}, err
		}
		if partial {
			return authz.Principal{}, httpapi.ErrSecondFactorPending
		}
		return p, nil
	}
}

// actor is the audit actor of an authenticated staff request.
func actor(r *http.Request) consultation.Actor {
	info, _ := clientinfo.FromContext(r.Context())
	p, _ := httpapi.PrincipalFrom(r.Context())
	if p.Kind == "api_key" {
		return consultation.Actor{Type: audit.ActorAPIKey, ID: p.ID, UserID: p.UserID, ClientIP: info.IP}
	}
	return consultation.Actor{Type: audit.ActorUser, ID: p.UserID, UserID: p.UserID, ClientIP: info.IP}
}

func principal(r *http.Request) authz.Principal {
	p, _ := httpapi.PrincipalFrom(r.Context())
	return p
}

// Error codes of this API.
const (
	CodeQueueNameTaken     = "queue_name_taken"
	CodeQueueInUse         = "queue_in_use"
	CodeInvalidTransition  = "invalid_transition"
	CodeInviteInvalid      = "invite_invalid"
	CodeInviteRevoked      = "invite_revoked"
	CodeInviteExpired      = "invite_expired"
	CodeInviteTooEarly     = "invite_too_early"
	CodeConsultationClosed = "consultation_closed"
	CodeThrottled          = "throttled"
	CodeFeedbackInvalid    = "feedback_invalid"
	CodeFeedbackExpired    = "feedback_expired"
	CodeFeedbackNotAsked   = "feedback_not_asked"
	CodeFeedbackGiven      = "feedback_given"
	CodeOrganisationTaken  = "organisation_name_taken"
	CodeRequestInvalid     = "request_invalid"
	CodeAlreadyTaken       = "already_taken"
	CodeRequestExpired     = "request_expired"
)

// tooEarlyBody is the error shape plus the opening time.
type tooEarlyBody struct {
	Error struct {
		Code    string    `json:"code"`
		Message string    `json:"message"`
		OpensAt time.Time `json:"opens_at"`
	} `json:"error"`
}

// writeErr maps the business errors to the API's answers, in one place.
func (a *API) writeErr(w http.ResponseWriter, r *http.Request, err error) {
	var (
		re       *httpapi.RequestError
		fe       *consultation.FieldError
		tooEarly *consultation.TooEarlyError
		throttle *consultation.ThrottledError
	)
	switch {
	case errors.As(err, &re):
		httpapi.WriteRequestError(w, re)
	case errors.As(err, &fe):
		httpapi.WriteRequestError(w, httpapi.FieldError(fe.Field, "%s", fe.Reason))
	case errors.Is(err, consultation.ErrInvalidCursor):
		httpapi.WriteRequestError(w, httpapi.FieldError("cursor", "is not a cursor this API gave"))
	case errors.Is(err, consultation.ErrNotFound):
		httpapi.WriteError(w, http.StatusNotFound, httpapi.CodeNotFound, "no such resource")
	case errors.Is(err, consultation.ErrQueueNameTaken):
		httpapi.WriteRequestError(w, &httpapi.RequestError{Status: http.StatusConflict, Code: CodeQueueNameTaken, Field: "name", Message: "a queue with this name already exists"})
	case errors.Is(err, consultation.ErrQueueInUse):
		httpapi.WriteError(w, http.StatusConflict, CodeQueueInUse, "consultations still refer to this queue")
	case errors.Is(err, consultation.ErrAlreadyAccepted):
		httpapi.WriteError(w, http.StatusConflict, CodeAlreadyAccepted, "another doctor accepted this consultation first")
	case errors.Is(err, consultation.ErrWrongState):
		httpapi.WriteError(w, http.StatusConflict, CodeInvalidState, "the consultation's status does not allow this")
	case errors.Is(err, consultation.ErrInvalidTransition):
		httpapi.WriteError(w, http.StatusConflict, CodeInvalidTransition, "the invite's status does not allow this")
	case errors.As(err, &throttle):
		w.Header().Set("Retry-After", strconv.Itoa(int(throttle.RetryAfter/time.Second)))
		httpapi.WriteError(w, http.StatusTooManyRequests, CodeThrottled, "too many attempts; try again later")
	case errors.Is(err, consultation.ErrInviteInvalid):
		httpapi.WriteError(w, http.StatusNotFound, CodeInviteInvalid, "this link is not valid; check it or ask for a new one")
	case errors.Is(err, consultation.ErrInviteRevoked):
		httpapi.WriteError(w, http.StatusGone, CodeInviteRevoked, "this link was withdrawn; ask for a new one")
	case errors.Is(err, consultation.ErrInviteExpired):
		httpapi.WriteError(w, http.StatusGone, CodeInviteExpired, "this link has expired; ask for a new one")
	case errors.Is(err, consultation.ErrConsultationClosed):
		httpapi.WriteError(w, http.StatusGone, CodeConsultationClosed, "this consultation is closed")
	case errors.Is(err, consultation.ErrNoActiveCall):
		httpapi.WriteError(w, http.StatusConflict, CodeNoActiveCall, "the consultation has no ringing or active call")
	case errors.Is(err, consultation.ErrCallNotRinging):
		httpapi.WriteError(w, http.StatusConflict, CodeCallNotRinging, "the call is no longer ringing")
	case errors.Is(err, consultation.ErrCallInProgress):
		httpapi.WriteError(w, http.StatusConflict, CodeCallInProgress, "the consultation already has a call")
	case errors.Is(err, consultation.ErrConsultationNotActive):
		httpapi.WriteError(w, http.StatusConflict, CodeConsultationNotActive, "calls need an active consultation")
	case errors.Is(err, consultation.ErrNoMediaNode):
		w.Header().Set("Retry-After", "5")
		httpapi.WriteError(w, http.StatusServiceUnavailable, CodeNoMediaNode, "no media node available")
	case errors.Is(err, consultation.ErrFeedbackInvalid):
		httpapi.WriteError(w, http.StatusNotFound, CodeFeedbackInvalid, "this feedback link is not valid")
	case errors.Is(err, consultation.ErrFeedbackExpired):
		httpapi.WriteError(w, http.StatusGone, CodeFeedbackExpired, "feedback is no longer taken for this consultation")
	case errors.Is(err, consultation.ErrFeedbackNotAsked):
		httpapi.WriteError(w, http.StatusConflict, CodeFeedbackNotAsked, "this consultation does not ask for feedback")
	case errors.Is(err, consultation.ErrFeedbackGiven):
		httpapi.WriteError(w, http.StatusConflict, CodeFeedbackGiven, "feedback was already given")
	case errors.Is(err, consultation.ErrOrganisationNameTaken):
		httpapi.WriteRequestError(w, &httpapi.RequestError{Status: http.StatusConflict, Code: CodeOrganisationTaken, Field: "name", Message: "an organisation with this name already exists"})
	case errors.Is(err, consultation.ErrRequestInvalid):
		httpapi.WriteError(w, http.StatusNotFound, CodeRequestInvalid, "this link is not valid")
	case errors.Is(err, consultation.ErrRequestTaken):
		httpapi.WriteError(w, http.StatusConflict, CodeAlreadyTaken, "another interpreter accepted this request first")
	case errors.Is(err, consultation.ErrRequestExpired):
		httpapi.WriteError(w, http.StatusGone, CodeRequestExpired, "this request has expired")
	case errors.As(err, &tooEarly):
		var body tooEarlyBody
		body.Error.Code, body.Error.Message, body.Error.OpensAt = CodeInviteTooEarly, "this link opens shortly before the appointment", tooEarly.OpensAt.UTC()
		httpapi.WriteJSON(w, http.StatusConflict, body)
	default:
		a.p.Logger.Error("request failed", "path", r.URL.Path, "error", err.Error())
		httpapi.WriteError(w, http.StatusInternalServerError, httpapi.CodeInternal, "internal error")
	}
}
