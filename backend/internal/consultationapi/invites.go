package consultationapi

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/hcw-home/hcw/backend/internal/authz"
	"github.com/hcw-home/hcw/backend/internal/clientinfo"
	"github.com/hcw-home/hcw/backend/internal/consultation"
	"github.com/hcw-home/hcw/backend/internal/httpapi"
	"github.com/hcw-home/hcw/backend/internal/signin"
)

type createInviteRequest struct {
	FirstName   string          `json:"first_name"`
	LastName    string          `json:"last_name"`
	Phone       string          `json:"phone,omitempty" doc:"E.164, e.g. +41221234567; a phone or an email is required"`
	Email       string          `json:"email,omitempty"`
	Language    string          `json:"language,omitempty" doc:"the patient's language (BCP 47) whose primary subtag is one of the languages the clinic offers (settings); default the first of them; mails in en or fr, else en"`
	ScheduledAt *time.Time      `json:"scheduled_at,omitempty" doc:"RFC 3339; with time_zone"`
	TimeZone    string          `json:"time_zone,omitempty" doc:"IANA, e.g. Europe/Zurich; with scheduled_at"`
	QueueID     string          `json:"queue_id,omitempty" doc:"exactly one of queue_id and doctor_id"`
	DoctorID    string          `json:"doctor_id,omitempty"`
	Note        string          `json:"note,omitempty" doc:"at most 2000 characters; sealed at rest"`
	Metadata    json.RawMessage `json:"metadata,omitempty" doc:"free JSON object of at most 4 KiB; sealed at rest"`
	Delivery    string          `json:"delivery,omitempty" doc:"link (default: copy the link) or email (also mailed, with an .ics when scheduled)"`
}

type inviteBody struct {
	ID                 string          `json:"id"`
	ConsultationID     string          `json:"consultation_id"`
	ParticipantID      string          `json:"participant_id"`
	Role               string          `json:"role"`
	Status             string          `json:"status" doc:"created, sent, delivery_failed, opened, redeemed, expired or revoked"`
	Delivery           string          `json:"delivery"`
	DeliveryError      string          `json:"delivery_error,omitempty" doc:"why the mail failed: a code, never an address"`
	FirstName          string          `json:"first_name"`
	LastName           string          `json:"last_name"`
	Language           string          `json:"language"`
	Email              string          `json:"email,omitempty"`
	Phone              string          `json:"phone,omitempty"`
	ScheduledAt        *time.Time      `json:"scheduled_at,omitempty"`
	TimeZone           string          `json:"time_zone,omitempty"`
	ExpiresAt          time.Time       `json:"expires_at"`
	Note               string          `json:"note,omitempty"`
	Metadata           json.RawMessage `json:"metadata,omitempty"`
	QueueID            string          `json:"queue_id,omitempty"`
	DoctorID           string          `json:"doctor_id,omitempty"`
	ConsultationStatus string          `json:"consultation_status"`
	CreatedAt          time.Time       `json:"created_at"`
	RedeemedAt         *time.Time      `json:"redeemed_at,omitempty"`
	RevokedAt          *time.Time      `json:"revoked_at,omitempty"`
}

func inviteOf(i consultation.Invite) inviteBody {
	return inviteBody{ID: i.ID, ConsultationID: i.ConsultationID, ParticipantID: i.ParticipantID, Role: string(i.Role),
		Status: string(i.Status), Delivery: string(i.Delivery), DeliveryError: i.DeliveryError, FirstName: i.FirstName,
		LastName: i.LastName, Language: i.Language, Email: i.Email, Phone: i.Phone, ScheduledAt: i.ScheduledAt,
		TimeZone: i.TimeZone, ExpiresAt: i.ExpiresAt, Note: i.Note, Metadata: i.Metadata, QueueID: i.QueueID,
		DoctorID: i.DoctorID, ConsultationStatus: string(i.ConsultationStatus), CreatedAt: i.CreatedAt,
		RedeemedAt: i.RedeemedAt, RevokedAt: i.RevokedAt}
}

type issuedBody struct {
	Invite inviteBody `json:"invite"`
	Link   string     `json:"link" doc:"https://<patient host>/i/<token>, shown this once (the token is stored hashed)"`
}

type inviteListBody struct {
	Invites []inviteBody `json:"invites"`
	Next    string       `json:"next,omitempty" doc:"cursor of the next page"`
}

type redeemRequest struct {
	Token string `json:"token" doc:"the last path segment of the link /i/<token>"`
}

func (r redeemRequest) Validate() error {
	if r.Token == "" {
		return httpapi.FieldError("token", "is required")
	}
	return nil
}

type redeemedBody struct {
	ParticipantID  string     `json:"participant_id"`
	ConsultationID string     `json:"consultation_id"`
	Role           string     `json:"role"`
	SessionExpires time.Time  `json:"session_expires" doc:"the session also ends when the consultation closes"`
	Language       string     `json:"language" doc:"the participant's language (BCP 47)"`
	ScheduledAt    *time.Time `json:"scheduled_at,omitempty" doc:"the invite's appointment, when scheduled"`
	TimeZone       string     `json:"time_zone,omitempty" doc:"the appointment's IANA time zone, when scheduled"`
	AskFeedback    bool       `json:"ask_feedback" doc:"the participant is asked for feedback once the consultation closes"`
}

type rescheduleRequest struct {
	ScheduledAt *time.Time `json:"scheduled_at" doc:"RFC 3339: the new appointment"`
	TimeZone    string     `json:"time_zone" doc:"IANA, e.g. Europe/Zurich"`
}

func (r rescheduleRequest) Validate() error {
	if r.ScheduledAt == nil {
		return httpapi.FieldError("scheduled_at", "is required")
	}
	if r.TimeZone == "" {
		return httpapi.FieldError("time_zone", "is required")
	}
	return nil
}

type rescheduledBody struct {
	Invite inviteBody `json:"invite"`
	Link   string     `json:"link,omitempty" doc:"for an invite delivered by e-mail: the new link mailed with the new time (the old one stops working), shown this once"`
}

func (a *API) mountInvites(rt *httpapi.Router) {
	tags := []string{"invites"}
	op := func(o httpapi.Operation, perm authz.Permission, h http.HandlerFunc) {
		o.Auth, o.Permission, o.Tags = httpapi.AuthAny, perm, tags
		o.Errors = append(o.Errors, 401, 403)
		rt.HandleFunc(o, h)
	}
	op(httpapi.Operation{Method: http.MethodPost, Path: "/api/v1/invites", ID: "createInvite",
		Summary: "Invite a patient: creates the consultation and answers the link once; mails it when delivery is email.",
		Request: createInviteRequest{}, Response: issuedBody{}, Status: http.StatusCreated, Errors: []int{400, 404}},
		authz.PermInvitesCreate, a.createInvite)
	op(httpapi.Operation{Method: http.MethodGet, Path: "/api/v1/invites", ID: "listInvites",
		Summary: "The invites the caller's account created, newest first, a page at a time.",
		Query: []httpapi.QueryParam{
			{Name: "limit", Type: "integer", Description: "invites per page, 1 to 100 (default 50)"},
			{Name: "cursor", Description: "the next of the previous page (opaque); absent for the first page"},
		},
		Response: inviteListBody{}, Errors: []int{400}}, authz.PermInvitesRead, a.listInvites)
	op(httpapi.Operation{Method: http.MethodGet, Path: "/api/v1/invites/{id}", ID: "getInvite",
		Summary:  "One invite (its creator, admins, and the doctors and nurses of its queue or its named doctor).",
		Response: inviteBody{}, Errors: []int{404}}, authz.PermInvitesRead, a.getInvite)
	op(httpapi.Operation{Method: http.MethodPost, Path: "/api/v1/invites/{id}/resend", ID: "resendInvite",
		Summary: "Send an invite again. The link cannot be repeated (the token is stored hashed): the invite is revoked " +
			"and a new one, with a new link, replaces it; the answer holds the new invite and its link once.",
		Response: issuedBody{}, Status: http.StatusCreated, Errors: []int{404, 409, 410}}, authz.PermInvitesCreate, a.resendInvite)
	op(httpapi.Operation{Method: http.MethodPost, Path: "/api/v1/invites/{id}/revoke", ID: "revokeInvite",
		Summary:  "Revoke an invite: its link stops working and its participant's sessions end.",
		Response: inviteBody{}, Errors: []int{404, 409}}, authz.PermInvitesCreate, a.revokeInvite)

	op(httpapi.Operation{Method: http.MethodPost, Path: "/api/v1/invites/{id}/reschedule", ID: "rescheduleInvite",
		Summary: "Move the appointment of an invite not yet redeemed (any role): its expiry and opening window move with it; " +
			"an invite delivered by e-mail is mailed again with the new time, an updated .ics and a new link.",
		Request: rescheduleRequest{}, Response: rescheduledBody{}, Errors: []int{400, 404, 409, 410}},
		authz.PermInvitesCreate, a.rescheduleInvite)

	rt.HandleFunc(httpapi.Operation{Method: http.MethodPost, Path: "/api/v1/invites/redeem", ID: "redeemInvite",
		Tags: tags, Auth: httpapi.AuthNone,
		Summary: "Exchange an invite link's token for a participant session cookie. Refusals: invite_invalid (404), " +
			"invite_revoked, invite_expired, consultation_closed (410), invite_too_early (409, with opens_at), throttled (429).",
		Request: redeemRequest{}, Response: redeemedBody{}, Errors: []int{400, 404, 409, 410, 429}, MaxBody: 1 << 10}, a.redeem)
}

func (a *API) createInvite(w http.ResponseWriter, r *http.Request) {
	var req createInviteRequest
	if err := httpapi.DecodeJSON(w, r, 16<<10, &req); err != nil {
		a.writeErr(w, r, err)
		return
	}
	issued, err := a.p.Consultations.CreateInvite(r.Context(), principal(r), actor(r), consultation.NewInvite{
		FirstName: req.FirstName, LastName: req.LastName, Phone: req.Phone, Email: req.Email, Language: req.Language,
		ScheduledAt: req.ScheduledAt, TimeZone: req.TimeZone, QueueID: req.QueueID, DoctorID: req.DoctorID,
		Note: req.Note, Metadata: req.Metadata, Delivery: consultation.Delivery(req.Delivery),
	})
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusCreated, issuedBody{Invite: inviteOf(issued.Invite), Link: issued.Link})
}

func (a *API) listInvites(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, lerr := httpapi.QueryLimit(r, 100)
	if lerr != nil {
		httpapi.WriteRequestError(w, lerr)
		return
	}
	page, err := a.p.Consultations.Invites(r.Context(), principal(r), consultation.ListParams{Limit: limit, Cursor: q.Get("cursor")})
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	body := inviteListBody{Invites: make([]inviteBody, 0, len(page.Invites)), Next: page.Next}
	for _, i := range page.Invites {
		body.Invites = append(body.Invites, inviteOf(i))
	}
	httpapi.WriteJSON(w, http.StatusOK, body)
}

func (a *API) getInvite(w http.ResponseWriter, r *http.Request) {
	inv, err := a.p.Consultations.Invite(r.Context(), principal(r), r.PathValue("id"))
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, inviteOf(inv))
}

func (a *API) resendInvite(w http.ResponseWriter, r *http.Request) {
	issued, err := a.p.Consultations.Resend(r.Context(), principal(r), actor(r), r.PathValue("id"))
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusCreated, issuedBody{Invite: inviteOf(issued.Invite), Link: issued.Link})
}

func (a *API) revokeInvite(w http.ResponseWriter, r *http.Request) {
	inv, err := a.p.Consultations.Revoke(r.Context(), principal(r), actor(r), r.PathValue("id"))
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, inviteOf(inv))
}

func (a *API) redeem(w http.ResponseWriter, r *http.Request) {
	var req redeemRequest
	if err := httpapi.DecodeJSON(w, r, 1<<10, &req); err != nil {
		a.writeErr(w, r, err)
		return
	}
	info, _ := clientinfo.FromContext(r.Context())
	red, err := a.p.Consultations.Redeem(r.Context(), req.Token, info.IP)
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	signin.SetSessionCookie(w, red.Token, red.ExpiresAt)
	httpapi.WriteJSON(w, http.StatusOK, redeemedBody{ParticipantID: red.ParticipantID, ConsultationID: red.ConsultationID,
		Role: string(red.Role), SessionExpires: red.ExpiresAt, Language: red.Language, ScheduledAt: red.ScheduledAt,
		TimeZone: red.TimeZone, AskFeedback: red.AskFeedback})
}

func (a *API) rescheduleInvite(w http.ResponseWriter, r *http.Request) {
	var req rescheduleRequest
	if err := httpapi.DecodeJSON(w, r, httpapi.DefaultMaxBody, &req); err != nil {
		a.writeErr(w, r, err)
		return
	}
	issued, err := a.p.Consultations.Reschedule(r.Context(), principal(r), actor(r), r.PathValue("id"), req.ScheduledAt, req.TimeZone)
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, rescheduledBody{Invite: inviteOf(issued.Invite), Link: issued.Link})
}
