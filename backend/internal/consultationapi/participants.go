package consultationapi

import (
	"net/http"
	"time"

	"github.com/hcw-home/hcw/backend/internal/authz"
	"github.com/hcw-home/hcw/backend/internal/consultation"
	"github.com/hcw-home/hcw/backend/internal/httpapi"
)

type addParticipantRequest struct {
	Role        string     `json:"role" doc:"guest, interpreter or expert"`
	FirstName   string     `json:"first_name"`
	LastName    string     `json:"last_name"`
	Phone       string     `json:"phone,omitempty" doc:"E.164, e.g. +41221234567; a phone or an email is required"`
	Email       string     `json:"email,omitempty"`
	Language    string     `json:"language,omitempty" doc:"the participant's language (BCP 47) whose primary subtag is one of the languages the clinic offers (settings); default the first of them; mails in en or fr, else en"`
	Delivery    string     `json:"delivery,omitempty" doc:"link (default: copy the link) or email (also mailed, naming the role, with an .ics when scheduled)"`
	ScheduledAt *time.Time `json:"scheduled_at,omitempty" doc:"RFC 3339; with time_zone; the link opens shortly before"`
	TimeZone    string     `json:"time_zone,omitempty" doc:"IANA, e.g. Europe/Zurich; with scheduled_at"`
}

type participantBody struct {
	ParticipantID string `json:"participant_id"`
	Role          string `json:"role" doc:"patient, guest, interpreter or expert"`
	DisplayName   string `json:"display_name"`
	FirstName     string `json:"first_name"`
	LastName      string `json:"last_name"`
	Language      string `json:"language"`
	Online        bool   `json:"online" doc:"a socket of the participant is open"`
	InviteStatus  string `json:"invite_status,omitempty" doc:"status of the participant's latest invite"`
}

type participantListBody struct {
	Participants []participantBody `json:"participants"`
}

func (a *API) mountParticipants(rt *httpapi.Router) {
	op := func(o httpapi.Operation, h http.HandlerFunc) {
		o.Auth, o.Permission, o.Tags = httpapi.AuthSession, authz.PermConsultationsManage, []string{"consultations"}
		o.Errors = append(o.Errors, 401, 403, 404)
		rt.HandleFunc(o, h)
	}
	op(httpapi.Operation{Method: http.MethodPost, Path: "/api/v1/consultations/{id}/invites", ID: "createParticipantInvite",
		Summary: "Invite a guest, an interpreter or an expert into the consultation (its doctor, or a doctor of its queue " +
			"while it waits); answers the link once, mails it when delivery is email. Redeemed like a patient's invite.",
		Request: addParticipantRequest{}, Response: issuedBody{}, Status: http.StatusCreated, Errors: []int{400, 410}},
		a.addParticipant)
	op(httpapi.Operation{Method: http.MethodGet, Path: "/api/v1/consultations/{id}/participants", ID: "listParticipants",
		Summary:  "The consultation's participants with role, name and presence, patient first (audited).",
		Response: participantListBody{}}, a.listParticipants)
}

func (a *API) addParticipant(w http.ResponseWriter, r *http.Request) {
	var req addParticipantRequest
	if err := httpapi.DecodeJSON(w, r, 16<<10, &req); err != nil {
		a.writeErr(w, r, err)
		return
	}
	issued, err := a.p.Consultations.AddParticipant(r.Context(), principal(r), actor(r), r.PathValue("id"), consultation.NewParticipant{
		Role: authz.Role(req.Role), FirstName: req.FirstName, LastName: req.LastName, Phone: req.Phone, Email: req.Email,
		Language: req.Language, Delivery: consultation.Delivery(req.Delivery), ScheduledAt: req.ScheduledAt, TimeZone: req.TimeZone,
	})
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusCreated, issuedBody{Invite: inviteOf(issued.Invite), Link: issued.Link})
}

func (a *API) listParticipants(w http.ResponseWriter, r *http.Request) {
	list, err := a.p.Consultations.Participants(r.Context(), principal(r), actor(r), r.PathValue("id"))
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	body := participantListBody{Participants: make([]participantBody, 0, len(list))}
	for _, p := range list {
		body.Participants = append(body.Participants, participantBody{ParticipantID: p.ID, Role: string(p.Role),
			DisplayName: p.FirstName + " " + p.LastName, FirstName: p.FirstName, LastName: p.LastName,
			Language: p.Language, Online: p.Online, InviteStatus: string(p.InviteStatus)})
	}
	httpapi.WriteJSON(w, http.StatusOK, body)
}
