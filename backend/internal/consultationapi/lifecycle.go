package consultationapi

import (
	"net/http"
	"time"

	"github.com/hcw-home/hcw/backend/internal/authz"
	"github.com/hcw-home/hcw/backend/internal/consultation"
	"github.com/hcw-home/hcw/backend/internal/httpapi"
)

// Error codes of the lifecycle.
const (
	CodeAlreadyAccepted = "already_accepted"
	CodeInvalidState    = "invalid_state"
)

type patientBody struct {
	ParticipantID string `json:"participant_id"`
	FirstName     string `json:"first_name"`
	LastName      string `json:"last_name"`
	Language      string `json:"language"`
	Online        bool   `json:"online" doc:"a socket of the patient is open"`
}

type consultationBody struct {
	ID               string         `json:"id"`
	QueueID          string         `json:"queue_id,omitempty"`
	DoctorID         string         `json:"doctor_id,omitempty" doc:"the named or accepting doctor"`
	Status           string         `json:"status" doc:"invited, pending, active or closed"`
	CloseReason      string         `json:"close_reason,omitempty" doc:"completed or cancelled"`
	CreatedAt        time.Time      `json:"created_at"`
	WaitingSince     *time.Time     `json:"waiting_since,omitempty" doc:"when the patient redeemed the invite"`
	AcceptedAt       *time.Time     `json:"accepted_at,omitempty"`
	ClosedAt         *time.Time     `json:"closed_at,omitempty"`
	EstimatedStartAt *time.Time     `json:"estimated_start_at,omitempty"`
	Patient          *patientBody   `json:"patient,omitempty" doc:"in audited reads only"`
	Note             string         `json:"note,omitempty" doc:"the doctor's private note (staff only; in audited reads)"`
	Feedback         []feedbackBody `json:"feedback,omitempty" doc:"the participants' feedback once closed (in audited reads)"`
}

type feedbackBody struct {
	ParticipantID string    `json:"participant_id"`
	Role          string    `json:"role" doc:"patient, guest, interpreter or expert"`
	Rating        string    `json:"rating" doc:"good, ok or bad"`
	Comment       string    `json:"comment,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
}

func consultationOf(c consultation.Consultation) consultationBody {
	b := consultationBody{ID: c.ID, QueueID: c.QueueID, DoctorID: c.DoctorID, Status: string(c.Status),
		CloseReason: c.CloseReason, CreatedAt: c.CreatedAt, WaitingSince: c.PendingAt, AcceptedAt: c.AcceptedAt,
		ClosedAt: c.ClosedAt, EstimatedStartAt: c.EstimatedStartAt, Note: c.Note}
	for _, f := range c.Feedback {
		b.Feedback = append(b.Feedback, feedbackBody{ParticipantID: f.ParticipantID, Role: string(f.Role),
			Rating: string(f.Rating), Comment: f.Comment, CreatedAt: f.CreatedAt})
	}
	if c.Patient != nil {
		b.Patient = &patientBody{ParticipantID: c.Patient.ParticipantID, FirstName: c.Patient.FirstName,
			LastName: c.Patient.LastName, Language: c.Patient.Language, Online: c.Patient.Online}
	}
	return b
}

type consultationListBody struct {
	Consultations []consultationBody `json:"consultations"`
	Next          string             `json:"next,omitempty" doc:"cursor of the next page"`
}

type estimateRequest struct {
	Minutes int `json:"minutes" doc:"1 to 240: the patient is told the doctor starts in this many minutes"`
}

func (r estimateRequest) Validate() error {
	if r.Minutes < 1 || r.Minutes > consultation.MaxEstimateMinutes {
		return httpapi.FieldError("minutes", "must be 1 to %d", consultation.MaxEstimateMinutes)
	}
	return nil
}

type transferRequest struct {
	QueueID  string `json:"queue_id,omitempty" doc:"exactly one of queue_id and doctor_id"`
	DoctorID string `json:"doctor_id,omitempty"`
}

// noteMaxBody fits 10000 characters however they are escaped.
const noteMaxBody = 128 << 10

type noteRequest struct {
	Text string `json:"text" doc:"at most 10000 characters; sealed at rest; empty removes the note"`
}

type positionBody struct {
	ConsultationStatus string     `json:"consultation_status"`
	Position           int        `json:"position,omitempty" doc:"1 for the next patient; absent when not waiting"`
	EstimatedStartAt   *time.Time `json:"estimated_start_at,omitempty" doc:"sent by a doctor; absent where the queue does not show estimates"`
}

func (a *API) mountLifecycle(rt *httpapi.Router) {
	read := func(op httpapi.Operation, h http.HandlerFunc) {
		op.Auth, op.Permission, op.Tags = httpapi.AuthSession, authz.PermConsultationsRead, []string{"consultations"}
		op.Errors = append(op.Errors, 401, 403, 404)
		rt.HandleFunc(op, h)
	}
	manage := func(op httpapi.Operation, h http.HandlerFunc) {
		op.Auth, op.Permission, op.Tags = httpapi.AuthSession, authz.PermConsultationsManage, []string{"consultations"}
		op.Errors = append(op.Errors, 401, 403, 404, 409, 410)
		rt.HandleFunc(op, h)
	}
	read(httpapi.Operation{Method: http.MethodGet, Path: "/api/v1/queues/{id}/consultations", ID: "listWaitingConsultations",
		Summary:  "The queue's waiting consultations, longest waiting first, with patient names and presence (audited).",
		Response: consultationListBody{}}, a.listWaiting)
	read(httpapi.Operation{Method: http.MethodGet, Path: "/api/v1/consultations", ID: "listMyConsultations",
		Summary: "The caller's own consultations in one status, newest first, a page at a time (audited).",
		Query: []httpapi.QueryParam{
			{Name: "status", Description: "pending, active or closed (default closed); any other value is refused"},
			{Name: "limit", Type: "integer", Description: "consultations per page, 1 to 100 (default 50)"},
			{Name: "cursor", Description: "the next of the previous page (opaque); absent for the first page"},
		},
		Response: consultationListBody{}, Errors: []int{400}}, a.listMine)
	read(httpapi.Operation{Method: http.MethodGet, Path: "/api/v1/consultations/{id}", ID: "getConsultation",
		Summary:  "One consultation with its patient and the private note (audited).",
		Response: consultationBody{}}, a.getConsultation)
	manage(httpapi.Operation{Method: http.MethodPost, Path: "/api/v1/consultations/{id}/accept", ID: "acceptConsultation",
		Summary:  "Accept a waiting consultation (pending -> active); the first doctor wins, the others get 409 already_accepted.",
		Response: consultationBody{}}, a.accept)
	manage(httpapi.Operation{Method: http.MethodPost, Path: "/api/v1/consultations/{id}/estimate", ID: "sendConsultationEstimate",
		Summary: "Tell the waiting patient when the doctor expects to start.", Request: estimateRequest{},
		Response: consultationBody{}, Errors: []int{400}}, a.estimate)
	manage(httpapi.Operation{Method: http.MethodPost, Path: "/api/v1/consultations/{id}/transfer", ID: "transferConsultation",
		Summary: "Move a pending or active consultation to another queue or doctor, where it waits again.",
		Request: transferRequest{}, Response: consultationBody{}, Errors: []int{400}}, a.transfer)
	manage(httpapi.Operation{Method: http.MethodPost, Path: "/api/v1/consultations/{id}/cancel", ID: "cancelConsultation",
		Summary:  "Cancel a consultation not yet accepted (closed, reason cancelled).",
		Response: consultationBody{}}, a.cancel)
	manage(httpapi.Operation{Method: http.MethodPost, Path: "/api/v1/consultations/{id}/close", ID: "closeConsultation",
		Summary:  "Close an active consultation (its doctor only): ends participant sessions and sockets, revokes unused invites.",
		Response: consultationBody{}}, a.close)
	manage(httpapi.Operation{Method: http.MethodPut, Path: "/api/v1/consultations/{id}/note", ID: "setConsultationNote",
		Summary: "Replace the doctor's private note (never shown to participants).", Request: noteRequest{},
		Status: http.StatusNoContent, Errors: []int{400}, MaxBody: noteMaxBody}, a.setNote)

	rt.HandleFunc(httpapi.Operation{Method: http.MethodGet, Path: "/api/v1/participant/queue-position", ID: "getQueuePosition",
		Tags: []string{"participant"}, Auth: httpapi.AuthSession, Permission: authz.PermParticipantSelf,
		Summary:  "The participant's place among the waiting consultations (1-based, by waiting time) and any estimate.",
		Response: positionBody{}, Errors: []int{401, 403, 404}}, a.queuePosition)
}

func (a *API) writeList(w http.ResponseWriter, list []consultation.Consultation, next string) {
	body := consultationListBody{Consultations: make([]consultationBody, 0, len(list)), Next: next}
	for _, c := range list {
		body.Consultations = append(body.Consultations, consultationOf(c))
	}
	httpapi.WriteJSON(w, http.StatusOK, body)
}

func (a *API) listWaiting(w http.ResponseWriter, r *http.Request) {
	list, err := a.p.Consultations.WaitingList(r.Context(), principal(r), actor(r), r.PathValue("id"))
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	a.writeList(w, list, "")
}

func (a *API) listMine(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, lerr := httpapi.QueryLimit(r, 100)
	if lerr != nil {
		httpapi.WriteRequestError(w, lerr)
		return
	}
	status := consultation.Status(q.Get("status"))
	if status == "" {
		status = consultation.StatusClosed
	}
	page, err := a.p.Consultations.Mine(r.Context(), principal(r), actor(r), status,
		consultation.ListParams{Limit: limit, Cursor: q.Get("cursor")})
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	a.writeList(w, page.Consultations, page.Next)
}

func (a *API) getConsultation(w http.ResponseWriter, r *http.Request) {
	c, err := a.p.Consultations.Get(r.Context(), principal(r), actor(r), r.PathValue("id"))
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, consultationOf(c))
}

func (a *API) answer(w http.ResponseWriter, r *http.Request, c consultation.Consultation, err error) {
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, consultationOf(c))
}

func (a *API) accept(w http.ResponseWriter, r *http.Request) {
	c, err := a.p.Consultations.Accept(r.Context(), principal(r), actor(r), r.PathValue("id"))
	a.answer(w, r, c, err)
}

func (a *API) estimate(w http.ResponseWriter, r *http.Request) {
	var req estimateRequest
	if err := httpapi.DecodeJSON(w, r, httpapi.DefaultMaxBody, &req); err != nil {
		a.writeErr(w, r, err)
		return
	}
	c, err := a.p.Consultations.SendEstimate(r.Context(), principal(r), actor(r), r.PathValue("id"), req.Minutes)
	a.answer(w, r, c, err)
}

func (a *API) transfer(w http.ResponseWriter, r *http.Request) {
	var req transferRequest
	if err := httpapi.DecodeJSON(w, r, httpapi.DefaultMaxBody, &req); err != nil {
		a.writeErr(w, r, err)
		return
	}
	c, err := a.p.Consultations.Transfer(r.Context(), principal(r), actor(r), r.PathValue("id"), req.QueueID, req.DoctorID)
	a.answer(w, r, c, err)
}

func (a *API) cancel(w http.ResponseWriter, r *http.Request) {
	c, err := a.p.Consultations.Cancel(r.Context(), principal(r), actor(r), r.PathValue("id"))
	a.answer(w, r, c, err)
}

func (a *API) close(w http.ResponseWriter, r *http.Request) {
	c, err := a.p.Consultations.Close(r.Context(), principal(r), actor(r), r.PathValue("id"))
	a.answer(w, r, c, err)
}

func (a *API) setNote(w http.ResponseWriter, r *http.Request) {
	var req noteRequest
	if err := httpapi.DecodeJSON(w, r, noteMaxBody, &req); err != nil {
		a.writeErr(w, r, err)
		return
	}
	if err := a.p.Consultations.SetNote(r.Context(), principal(r), actor(r), r.PathValue("id"), req.Text); err != nil {
		a.writeErr(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) queuePosition(w http.ResponseWriter, r *http.Request) {
	pos, err := a.p.Consultations.QueuePosition(r.Context(), principal(r))
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, positionBody{ConsultationStatus: string(pos.Status), Position: pos.Position,
		EstimatedStartAt: pos.EstimatedStartAt})
}
