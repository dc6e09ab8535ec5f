package staffapi

import (
	"fmt"
	"net/http"
	"time"

	"github.com/hcw-home/hcw/backend/internal/account"
	"github.com/hcw-home/hcw/backend/internal/audit"
	"github.com/hcw-home/hcw/backend/internal/authz"
	"github.com/hcw-home/hcw/backend/internal/httpapi"
	"github.com/hcw-home/hcw/backend/internal/signin"
)

type createUserRequest struct {
	Email     string `json:"email"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	Phone     string `json:"phone,omitempty" doc:"E.164, optional"`
	Language  string `json:"language,omitempty" doc:"BCP 47; default en"`
	Role      string `json:"role" doc:"admin, doctor, nurse or scheduler"`
	AllQueues bool   `json:"all_queues,omitempty"`
}

func (r createUserRequest) Validate() error {
	if !account.Role(r.Role).Valid() {
		return httpapi.FieldError("role", "must be admin, doctor, nurse or scheduler")
	}
	return nil
}

type createdUserBody struct {
	User userBody `json:"user"`
	// SetupURL lets the administrator hand the link over another way when
	// mail is off or slow; it is also mailed when mail is configured.
	SetupURL     string     `json:"setup_url,omitempty" doc:"single-use link to set the password (not for schedulers)"`
	SetupExpires *time.Time `json:"setup_expires,omitempty"`
}

type userListBody struct {
	Users []userBody `json:"users"`
	Next  string     `json:"next,omitempty" doc:"cursor of the next page"`
}

type updateUserRequest struct {
	FirstName *string `json:"first_name,omitempty"`
	LastName  *string `json:"last_name,omitempty"`
	Phone     *string `json:"phone,omitempty"`
	Language  *string `json:"language,omitempty"`
	Role      *string `json:"role,omitempty"`
	AllQueues *bool   `json:"all_queues,omitempty"`
}

func (r updateUserRequest) Validate() error {
	if r.Role != nil && !account.Role(*r.Role).Valid() {
		return httpapi.FieldError("role", "must be admin, doctor, nurse or scheduler")
	}
	return nil
}

type createAPIKeyRequest struct {
	UserID string `json:"user_id"`
	Name   string `json:"name"`
	Role   string `json:"role" doc:"the key's scope; the user's own role unless the user is an admin"`
}

func (r createAPIKeyRequest) Validate() error {
	if r.UserID == "" {
		return httpapi.FieldError("user_id", "is required")
	}
	if r.Name == "" || len(r.Name) > 100 {
		return httpapi.FieldError("name", "is required (at most 100 characters)")
	}
	if !account.Role(r.Role).Valid() {
		return httpapi.FieldError("role", "must be admin, doctor, nurse or scheduler")
	}
	return nil
}

type apiKeyBody struct {
	ID         string     `json:"id"`
	UserID     string     `json:"user_id"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	Role       string     `json:"role"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
}

func apiKeyOf(k account.APIKey) apiKeyBody {
	return apiKeyBody{ID: k.ID, UserID: k.UserID, Name: k.Name, Prefix: k.Prefix, Role: string(k.Role),
		CreatedAt: k.CreatedAt, LastUsedAt: k.LastUsedAt, RevokedAt: k.RevokedAt}
}

type createdAPIKeyBody struct {
	APIKey apiKeyBody `json:"api_key"`
	Key    string     `json:"key" doc:"the secret, shown this once"`
}

type apiKeyListBody struct {
	APIKeys []apiKeyBody `json:"api_keys"`
}

type verifyBody struct {
	Intact         bool   `json:"intact"`
	Rows           int64  `json:"rows"`
	FirstBrokenSeq int64  `json:"first_broken_seq,omitempty"`
	Reason         string `json:"reason,omitempty"`
}

func (a *API) mountAdmin(rt *httpapi.Router) {
	users := []string{"admin: users"}
	manage := func(op httpapi.Operation, h http.HandlerFunc) {
		op.Auth, op.Permission, op.Tags = httpapi.AuthAny, authz.PermUsersManage, users
		op.Errors = append(op.Errors, 401, 403)
		rt.HandleFunc(op, h)
	}
	manage(httpapi.Operation{Method: http.MethodGet, Path: "/api/v1/admin/users", ID: "listUsers",
		Summary: "Users, oldest first, a page at a time.",
		Query: []httpapi.QueryParam{
			{Name: "role", Description: "only users with this role: admin, doctor, nurse or scheduler (default: any role)"},
			{Name: "status", Description: "only users in this status: active, pending_approval or disabled (default: any status)"},
			{Name: "limit", Type: "integer", Description: fmt.Sprintf("users per page, 1 to %d (default %d)", account.MaxListLimit, account.DefaultListLimit)},
			{Name: "cursor", Description: "the next of the previous page (opaque); absent for the first page"},
		},
		Response: userListBody{}, Errors: []int{400}}, a.listUsers)
	manage(httpapi.Operation{Method: http.MethodPost, Path: "/api/v1/admin/users", ID: "createUser",
		Summary: "Create an active user; a setup link is mailed and returned once.", Request: createUserRequest{},
		Response: createdUserBody{}, Status: http.StatusCreated, Errors: []int{400, 409}}, a.createUser)
	manage(httpapi.Operation{Method: http.MethodGet, Path: "/api/v1/admin/users/{id}", ID: "getUser",
		Summary: "One user.", Response: userBody{}, Errors: []int{404}}, a.getUser)
	manage(httpapi.Operation{Method: http.MethodPatch, Path: "/api/v1/admin/users/{id}", ID: "updateUser",
		Summary: "Change a user; a role or queue change ends their sessions.", Request: updateUserRequest{},
		Response: userBody{}, Errors: []int{400, 404, 409}}, a.updateUser)
	for _, st := range []struct {
		id, verb, summary string
		to                account.Status
	}{
		{"disableUser", "disable", "Disable a user: their sessions end and their sockets close.", account.StatusDisabled},
		{"enableUser", "enable", "Enable a disabled user again.", account.StatusActive},
		{"approveUser", "approve", "Approve a nurse's pending account.", account.StatusActive},
	} {
		manage(httpapi.Operation{Method: http.MethodPost, Path: "/api/v1/admin/users/{id}/" + st.verb, ID: st.id,
			Summary: st.summary, Response: userBody{}, Errors: []int{404, 409}}, a.setStatus(st.to, st.verb))
	}
	manage(httpapi.Operation{Method: http.MethodPost, Path: "/api/v1/admin/users/{id}/second-factor-reset", ID: "resetSecondFactor",
		Summary: "Remove a user's second factor; their sessions end and they enrol again at next sign-in.",
		Status:  http.StatusNoContent, Errors: []int{404}}, a.resetFactor)

	keys := func(op httpapi.Operation, h http.HandlerFunc) {
		op.Auth, op.Permission, op.Tags = httpapi.AuthAny, authz.PermAPIKeysManage, []string{"admin: API keys"}
		op.Errors = append(op.Errors, 401, 403)
		rt.HandleFunc(op, h)
	}
	keys(httpapi.Operation{Method: http.MethodGet, Path: "/api/v1/admin/users/{id}/api-keys", ID: "listAPIKeys",
		Summary: "A user's API keys (never the secrets).", Response: apiKeyListBody{}, Errors: []int{404}}, a.listAPIKeys)
	keys(httpapi.Operation{Method: http.MethodPost, Path: "/api/v1/admin/api-keys", ID: "createAPIKey",
		Summary: "Create an API key; the secret is shown once and stored hashed.", Request: createAPIKeyRequest{},
		Response: createdAPIKeyBody{}, Status: http.StatusCreated, Errors: []int{400, 404, 409}}, a.createAPIKey)
	keys(httpapi.Operation{Method: http.MethodPost, Path: "/api/v1/admin/api-keys/{id}/revoke", ID: "revokeAPIKey",
		Summary: "Revoke an API key.", Status: http.StatusNoContent, Errors: []int{404}}, a.revokeAPIKey)

	rt.HandleFunc(httpapi.Operation{Method: http.MethodGet, Path: "/api/v1/admin/audit/verification", ID: "verifyAudit",
		Tags: []string{"admin: audit"}, Auth: httpapi.AuthAny, Permission: authz.PermAuditRead,
		Summary:  "Check the audit trail's hash chain: intact, or where it first breaks (409).",
		Response: verifyBody{}, Errors: []int{401, 403, 409}}, a.verifyAudit)
}

func (a *API) listUsers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, lerr := httpapi.QueryLimit(r, account.MaxListLimit)
	if lerr != nil {
		httpapi.WriteRequestError(w, lerr)
		return
	}
	page, err := a.p.Accounts.List(r.Context(), account.ListParams{
		Role: account.Role(q.Get("role")), Status: account.Status(q.Get("status")), Limit: limit, Cursor: q.Get("cursor"),
	})
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	body := userListBody{Users: make([]userBody, 0, len(page.Users)), Next: page.Next}
	for _, u := range page.Users {
		body.Users = append(body.Users, userOf(u))
	}
	httpapi.WriteJSON(w, http.StatusOK, body)
}

func (a *API) createUser(w http.ResponseWriter, r *http.Request) {
	var req createUserRequest
	if err := httpapi.DecodeJSON(w, r, httpapi.DefaultMaxBody, &req); err != nil {
		a.writeErr(w, r, err)
		return
	}
	u, err := a.p.Accounts.Create(r.Context(), actor(r), account.NewUser{
		Email: req.Email, FirstName: req.FirstName, LastName: req.LastName, Phone: req.Phone,
		Language: req.Language, Role: account.Role(req.Role), Status: account.StatusActive, AllQueues: req.AllQueues,
	})
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	body := createdUserBody{User: userOf(u)}
	if u.Role != account.RoleScheduler {
		token, expires, err := a.p.Accounts.IssueToken(r.Context(), actor(r), u.ID, account.PurposeSetup, account.DefaultSetupTTL)
		if err != nil {
			a.writeErr(w, r, err)
			return
		}
		body.SetupURL, body.SetupExpires = a.linkURL(u, "setup", token), &expires
		a.sendLink(r, u, "setup", token, expires)
	}
	httpapi.WriteJSON(w, http.StatusCreated, body)
}

func (a *API) getUser(w http.ResponseWriter, r *http.Request) {
	u, err := a.p.Accounts.ByID(r.Context(), r.PathValue("id"))
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, userOf(u))
}

func (a *API) updateUser(w http.ResponseWriter, r *http.Request) {
	var req updateUserRequest
	if err := httpapi.DecodeJSON(w, r, httpapi.DefaultMaxBody, &req); err != nil {
		a.writeErr(w, r, err)
		return
	}
	c := account.Changes{FirstName: req.FirstName, LastName: req.LastName, Phone: req.Phone, Language: req.Language, AllQueues: req.AllQueues}
	if req.Role != nil {
		role := account.Role(*req.Role)
		c.Role = &role
	}
	u, privileged, err := a.p.Accounts.Update(r.Context(), actor(r), r.PathValue("id"), c)
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	if privileged {
		// No session keeps privileges its user no longer has.
		if _, err := a.p.SignIn.RevokeAllForUser(r.Context(), u.ID, signin.ReasonPrivilegeChanged); err != nil {
			a.writeErr(w, r, err)
			return
		}
	}
	httpapi.WriteJSON(w, http.StatusOK, userOf(u))
}

func (a *API) setStatus(to account.Status, verb string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if verb == "approve" || verb == "enable" {
			// approve applies to pending accounts only, enable to disabled.
			cur, err := a.p.Accounts.ByID(r.Context(), id)
			if err != nil {
				a.writeErr(w, r, err)
				return
			}
			want := account.StatusPendingApproval
			if verb == "enable" {
				want = account.StatusDisabled
			}
			if cur.Status != want {
				a.writeErr(w, r, account.ErrInvalidTransition)
				return
			}
		}
		u, err := a.p.Accounts.SetStatus(r.Context(), actor(r), id, to)
		if err != nil {
			a.writeErr(w, r, err)
			return
		}
		if to == account.StatusDisabled {
			if _, err := a.p.SignIn.RevokeAllForUser(r.Context(), u.ID, signin.ReasonUserDisabled); err != nil {
				a.writeErr(w, r, err)
				return
			}
		}
		httpapi.WriteJSON(w, http.StatusOK, userOf(u))
	}
}

func (a *API) resetFactor(w http.ResponseWriter, r *http.Request) {
	u, err := a.p.Accounts.ByID(r.Context(), r.PathValue("id"))
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	p, _ := httpapi.PrincipalFrom(r.Context())
	if err := a.p.SignIn.ResetFactor(r.Context(), p.UserID, u.ID); err != nil {
		a.writeErr(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) listAPIKeys(w http.ResponseWriter, r *http.Request) {
	u, err := a.p.Accounts.ByID(r.Context(), r.PathValue("id"))
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	ks, err := a.p.Accounts.APIKeys(r.Context(), u.ID)
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	body := apiKeyListBody{APIKeys: make([]apiKeyBody, 0, len(ks))}
	for _, k := range ks {
		body.APIKeys = append(body.APIKeys, apiKeyOf(k))
	}
	httpapi.WriteJSON(w, http.StatusOK, body)
}

func (a *API) createAPIKey(w http.ResponseWriter, r *http.Request) {
	var req createAPIKeyRequest
	if err := httpapi.DecodeJSON(w, r, httpapi.DefaultMaxBody, &req); err != nil {
		a.writeErr(w, r, err)
		return
	}
	k, secret, err := a.p.Accounts.CreateAPIKey(r.Context(), actor(r), req.UserID, req.Name, account.Role(req.Role))
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusCreated, createdAPIKeyBody{APIKey: apiKeyOf(k), Key: secret})
}

func (a *API) revokeAPIKey(w http.ResponseWriter, r *http.Request) {
	if err := a.p.Accounts.RevokeAPIKey(r.Context(), actor(r), r.PathValue("id")); err != nil {
		a.writeErr(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) verifyAudit(w http.ResponseWriter, r *http.Request) {
	res, err := a.p.Audit.Verify(r.Context())
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	act := actor(r)
	outcome := audit.OutcomeSuccess
	if !res.Intact {
		outcome = audit.OutcomeFailure
	}
	if err := a.p.Audit.Append(r.Context(), audit.Event{ActorType: act.Type, ActorID: act.ID, Action: audit.ActionAuditVerified,
		ObjectType: "audit", ClientIP: act.ClientIP, Outcome: outcome}); err != nil {
		a.writeErr(w, r, err)
		return
	}
	status := http.StatusOK
	if !res.Intact {
		status = http.StatusConflict
	}
	httpapi.WriteJSON(w, status, verifyBody{Intact: res.Intact, Rows: res.Rows, FirstBrokenSeq: res.FirstBrokenSeq, Reason: res.Reason})
}
