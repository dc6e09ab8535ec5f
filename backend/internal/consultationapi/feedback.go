package consultationapi

import (
	"net/http"

	"github.com/hcw-home/hcw/backend/internal/clientinfo"
	"github.com/hcw-home/hcw/backend/internal/consultation"
	"github.com/hcw-home/hcw/backend/internal/httpapi"
)

type feedbackRequest struct {
	Token   string `json:"token" doc:"the feedback_token of the participant's last GET /participant/me (or /participant/consultations/{id})"`
	Rating  string `json:"rating" doc:"good, ok or bad"`
	Comment string `json:"comment,omitempty" doc:"at most 2000 characters; sealed at rest; shown to the consultation's staff"`
}

func (r feedbackRequest) Validate() error {
	if r.Token == "" {
		return httpapi.FieldError("token", "is required")
	}
	return nil
}

// feedbackMaxBody fits 2000 characters however they are escaped.
const feedbackMaxBody = 32 << 10

func (a *API) mountFeedback(rt *httpapi.Router) {
	// Public: the participant's session ended with the consultation; the
	// feedback token in the body is the authorisation.
	rt.HandleFunc(httpapi.Operation{Method: http.MethodPost, Path: "/api/v1/participant/consultations/{id}/feedback",
		ID: "giveFeedback", Tags: []string{"participant"}, Auth: httpapi.AuthNone,
		Summary: "Rate a closed consultation once (participant, with the feedback token; the session has ended). Refusals: " +
			"feedback_invalid (404), feedback_expired (410, 24 h after the close), feedback_not_asked, feedback_given, " +
			"invalid_state (409, not closed yet), throttled (429).",
		Request: feedbackRequest{}, Status: http.StatusNoContent, Errors: []int{400, 404, 409, 410, 429},
		MaxBody: feedbackMaxBody}, a.giveFeedback)
}

func (a *API) giveFeedback(w http.ResponseWriter, r *http.Request) {
	var req feedbackRequest
	if err := httpapi.DecodeJSON(w, r, feedbackMaxBody, &req); err != nil {
		a.writeErr(w, r, err)
		return
	}
	info, _ := clientinfo.FromContext(r.Context())
	err := a.p.Consultations.GiveFeedback(r.Context(), r.PathValue("id"), consultation.NewFeedback{
		Token: req.Token, Rating: consultation.Rating(req.Rating), Comment: req.Comment}, info.IP)
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
