package consultationapi

import (
	"net/http"
	"time"

	"github.com/hcw-home/hcw/backend/internal/authz"
	"github.com/hcw-home/hcw/backend/internal/clientinfo"
	"github.com/hcw-home/hcw/backend/internal/consultation"
	"github.com/hcw-home/hcw/backend/internal/httpapi"
)

type organisationRequest struct {
	Name         string   `json:"name" doc:"1 to 100 characters, unique"`
	Languages    []string `json:"languages" doc:"BCP 47 tags, 1 to 50"`
	ContactEmail string   `json:"contact_email,omitempty"`
	Members      []string `json:"members" doc:"the interpreters' e-mail addresses, 1 to 100; sealed at rest"`
}

type organisationBody struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	Languages    []string  `json:"languages"`
	ContactEmail string    `json:"contact_email,omitempty" doc:"admins only"`
	Members      []string  `json:"members,omitempty" doc:"admins only"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

func organisationOf(o consultation.Organisation, full bool) organisationBody {
	b := organisationBody{ID: o.ID, Name: o.Name, Languages: o.Languages, CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt}
	if full {
		b.ContactEmail, b.Members = o.ContactEmail, o.Members
	}
	return b
}

type organisationListBody struct {
	Organisations []organisationBody `json:"organisations"`
}

type interpreterRequestRequest struct {
	OrganisationID string `json:"organisation_id"`
	Language       string `json:"language" doc:"BCP 47; one the organisation covers"`
}

type interpreterRequestBody struct {
	ID             string    `json:"id"`
	ConsultationID string    `json:"consultation_id"`
	OrganisationID string    `json:"organisation_id"`
	Language       string    `json:"language"`
	Status         string    `json:"status" doc:"open, accepted or expired"`
	CreatedAt      time.Time `json:"created_at"`
	ExpiresAt      time.Time `json:"expires_at"`
	Mailed         int       `json:"mailed" doc:"members the accept link was handed to the mail relay for"`
}

type acceptRequest struct {
	Token     string `json:"token" doc:"the last path segment of the mailed link /interpreter/<token>"`
	FirstName string `json:"first_name,omitempty" doc:"the interpreter's name as participants see it (default Interpreter)"`
	LastName  string `json:"last_name,omitempty" doc:"default: the organisation's name"`
}

type acceptedBody struct {
	Link      string    `json:"link" doc:"the interpreter's invite link (https://<patient host>/i/<token>), shown this once; redeem it like any invite"`
	ExpiresAt time.Time `json:"expires_at" doc:"the invite's expiry"`
}

func (r acceptRequest) Validate() error {
	if r.Token == "" {
		return httpapi.FieldError("token", "is required")
	}
	return nil
}

func (a *API) mountInterpreters(rt *httpapi.Router) {
	manage := func(op httpapi.Operation, h http.HandlerFunc) {
		op.Auth, op.Permission, op.Tags = httpapi.AuthAny, authz.PermInterpreterOrganisationsManage, []string{"admin: interpreter organisations"}
		op.Errors = append(op.Errors, 401, 403)
		rt.HandleFunc(op, h)
	}
	manage(httpapi.Operation{Method: http.MethodGet, Path: "/api/v1/admin/interpreter-organisations", ID: "listInterpreterOrganisations",
		Summary: "Every interpreter organisation with its members.", Response: organisationListBody{}}, a.listOrganisations)
	manage(httpapi.Operation{Method: http.MethodPost, Path: "/api/v1/admin/interpreter-organisations", ID: "createInterpreterOrganisation",
		Summary: "Create an interpreter organisation (interpreters outside the system, by e-mail address).",
		Request: organisationRequest{}, Response: organisationBody{}, Status: http.StatusCreated, Errors: []int{400, 409}},
		a.createOrganisation)
	manage(httpapi.Operation{Method: http.MethodGet, Path: "/api/v1/admin/interpreter-organisations/{id}", ID: "getInterpreterOrganisation",
		Summary: "One interpreter organisation.", Response: organisationBody{}, Errors: []int{404}}, a.getOrganisation)
	manage(httpapi.Operation{Method: http.MethodPut, Path: "/api/v1/admin/interpreter-organisations/{id}", ID: "updateInterpreterOrganisation",
		Summary: "Replace an interpreter organisation's fields; links already mailed keep working.",
		Request: organisationRequest{}, Response: organisationBody{}, Errors: []int{400, 404, 409}}, a.updateOrganisation)
	manage(httpapi.Operation{Method: http.MethodDelete, Path: "/api/v1/admin/interpreter-organisations/{id}", ID: "deleteInterpreterOrganisation",
		Summary: "Delete an interpreter organisation.", Status: http.StatusNoContent, Errors: []int{404}}, a.deleteOrganisation)

	rt.HandleFunc(httpapi.Operation{Method: http.MethodGet, Path: "/api/v1/interpreter-organisations", ID: "listInterpreterOrganisationNames",
		Tags: []string{"interpreters"}, Auth: httpapi.AuthSession, Permission: authz.PermInterpreterOrganisationsRead,
		Summary:  "The interpreter organisations' names and languages (no addresses), to request an interpreter.",
		Response: organisationListBody{}, Errors: []int{401, 403}}, a.listOrganisationNames)
	rt.HandleFunc(httpapi.Operation{Method: http.MethodPost, Path: "/api/v1/consultations/{id}/interpreter-requests", ID: "requestInterpreter",
		Tags: []string{"interpreters"}, Auth: httpapi.AuthSession, Permission: authz.PermConsultationsManage,
		Summary: "Request an interpreter from an organisation in a language (the consultation's doctor, or a doctor of its queue " +
			"while it waits): every member is mailed a one-time accept link; the first to accept joins as interpreter.",
		Request: interpreterRequestRequest{}, Response: interpreterRequestBody{}, Status: http.StatusCreated,
		Errors: []int{400, 401, 403, 404, 410}}, a.requestInterpreter)
	rt.HandleFunc(httpapi.Operation{Method: http.MethodPost, Path: "/api/v1/interpreter-requests/accept", ID: "acceptInterpreterRequest",
		Tags: []string{"interpreters"}, Auth: httpapi.AuthNone,
		Summary: "Accept an interpreter request with the mailed link's token (public, rate limited): the first member gets an " +
			"interpreter invite and its link once. Refusals: request_invalid (404), already_taken (409), request_expired, " +
			"consultation_closed (410), throttled (429).",
		Request: acceptRequest{}, Response: acceptedBody{}, Status: http.StatusCreated, Errors: []int{400, 404, 409, 410, 429},
		MaxBody: 1 << 10}, a.acceptInterpreterRequest)
}

func (a *API) writeOrganisations(w http.ResponseWriter, r *http.Request, full bool) {
	list, err := a.p.Consultations.Organisations(r.Context())
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	body := organisationListBody{Organisations: make([]organisationBody, 0, len(list))}
	for _, o := range list {
		body.Organisations = append(body.Organisations, organisationOf(o, full))
	}
	httpapi.WriteJSON(w, http.StatusOK, body)
}

func (a *API) listOrganisations(w http.ResponseWriter, r *http.Request) {
	a.writeOrganisations(w, r, true)
}

func (a *API) listOrganisationNames(w http.ResponseWriter, r *http.Request) {
	a.writeOrganisations(w, r, false)
}

func (r organisationRequest) input() consultation.OrganisationInput {
	return consultation.OrganisationInput{Name: r.Name, Languages: r.Languages, ContactEmail: r.ContactEmail, Members: r.Members}
}

func (a *API) createOrganisation(w http.ResponseWriter, r *http.Request) {
	var req organisationRequest
	if err := httpapi.DecodeJSON(w, r, httpapi.DefaultMaxBody, &req); err != nil {
		a.writeErr(w, r, err)
		return
	}
	o, err := a.p.Consultations.CreateOrganisation(r.Context(), actor(r), req.input())
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusCreated, organisationOf(o, true))
}

func (a *API) getOrganisation(w http.ResponseWriter, r *http.Request) {
	o, err := a.p.Consultations.Organisation(r.Context(), r.PathValue("id"))
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, organisationOf(o, true))
}

func (a *API) updateOrganisation(w http.ResponseWriter, r *http.Request) {
	var req organisationRequest
	if err := httpapi.DecodeJSON(w, r, httpapi.DefaultMaxBody, &req); err != nil {
		a.writeErr(w, r, err)
		return
	}
	o, err := a.p.Consultations.UpdateOrganisation(r.Context(), actor(r), r.PathValue("id"), req.input())
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, organisationOf(o, true))
}

func (a *API) deleteOrganisation(w http.ResponseWriter, r *http.Request) {
	if err := a.p.Consultations.DeleteOrganisation(r.Context(), actor(r), r.PathValue("id")); err != nil {
		a.writeErr(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) requestInterpreter(w http.ResponseWriter, r *http.Request) {
	var req interpreterRequestRequest
	if err := httpapi.DecodeJSON(w, r, httpapi.DefaultMaxBody, &req); err != nil {
		a.writeErr(w, r, err)
		return
	}
	ir, err := a.p.Consultations.RequestInterpreter(r.Context(), principal(r), actor(r), r.PathValue("id"), req.OrganisationID, req.Language)
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusCreated, interpreterRequestBody{ID: ir.ID, ConsultationID: ir.ConsultationID,
		OrganisationID: ir.OrganisationID, Language: ir.Language, Status: ir.Status, CreatedAt: ir.CreatedAt,
		ExpiresAt: ir.ExpiresAt, Mailed: ir.Mailed})
}

func (a *API) acceptInterpreterRequest(w http.ResponseWriter, r *http.Request) {
	var req acceptRequest
	if err := httpapi.DecodeJSON(w, r, 1<<10, &req); err != nil {
		a.writeErr(w, r, err)
		return
	}
	info, _ := clientinfo.FromContext(r.Context())
	issued, err := a.p.Consultations.AcceptInterpreterRequest(r.Context(), req.Token, req.FirstName, req.LastName, info.IP)
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusCreated, acceptedBody{Link: issued.Link, ExpiresAt: issued.Invite.ExpiresAt})
}
