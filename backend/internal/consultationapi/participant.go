package consultationapi

import (
	"net/http"
	"time"

	"github.com/hcw-home/hcw/backend/internal/authz"
	"github.com/hcw-home/hcw/backend/internal/clientinfo"
	"github.com/hcw-home/hcw/backend/internal/httpapi"
)

type participationBody struct {
	ParticipantID      string     `json:"participant_id"`
	Role               string     `json:"role"`
	ConsultationID     string     `json:"consultation_id"`
	ConsultationStatus string     `json:"consultation_status" doc:"invited, pending, active or closed"`
	QueueName          string     `json:"queue_name,omitempty" doc:"empty for a consultation with a named doctor"`
	Language           string     `json:"language" doc:"the participant's language (BCP 47), from their invite"`
	ScheduledAt        *time.Time `json:"scheduled_at,omitempty" doc:"the invite's appointment, when scheduled"`
	TimeZone           string     `json:"time_zone,omitempty" doc:"the appointment's IANA time zone, when scheduled"`
	AskFeedback        bool       `json:"ask_feedback" doc:"the participant is asked for feedback once the consultation closes"`
	FeedbackToken      string     `json:"feedback_token,omitempty" doc:"with ask_feedback, until feedback is given: post the feedback with the token of the last read (each read replaces it); valid once, until 24 h after the close"`
}

func (a *API) mountParticipant(rt *httpapi.Router) {
	op := func(o httpapi.Operation, h http.HandlerFunc) {
		o.Auth, o.Permission, o.Tags = httpapi.AuthSession, authz.PermParticipantSelf, []string{"participant"}
		o.Errors = append(o.Errors, 401, 403, 404)
		rt.HandleFunc(o, h)
	}
	op(httpapi.Operation{Method: http.MethodGet, Path: "/api/v1/participant/me", ID: "getParticipantMe",
		Summary:  "The participant's own place: their consultation, its status and queue, their role.",
		Response: participationBody{}}, a.participantMe)
	op(httpapi.Operation{Method: http.MethodGet, Path: "/api/v1/participant/consultations/{id}", ID: "getParticipantConsultation",
		Summary:  "The participant's consultation by id; any other id is 404 (audited).",
		Response: participationBody{}}, a.participantConsultation)
}

func (a *API) participantMe(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	a.writeParticipation(w, r, p, p.ConsultationID)
}

func (a *API) participantConsultation(w http.ResponseWriter, r *http.Request) {
	a.writeParticipation(w, r, principal(r), r.PathValue("id"))
}

func (a *API) writeParticipation(w http.ResponseWriter, r *http.Request, p authz.Principal, consultationID string) {
	info, _ := clientinfo.FromContext(r.Context())
	v, err := a.p.Consultations.Participation(r.Context(), p, consultationID, info.IP)
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, participationBody{ParticipantID: v.ParticipantID, Role: string(v.Role),
		ConsultationID: v.ConsultationID, ConsultationStatus: string(v.Status), QueueName: v.QueueName,
		Language: v.Language, ScheduledAt: v.ScheduledAt, TimeZone: v.TimeZone, AskFeedback: v.AskFeedback,
		FeedbackToken: v.FeedbackToken})
}
