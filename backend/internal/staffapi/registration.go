package staffapi

import (
	"errors"
	"net/http"

	"github.com/hcw-home/hcw/backend/internal/account"
	"github.com/hcw-home/hcw/backend/internal/httpapi"
)

type nurseRegistrationRequest struct {
	Email     string `json:"email"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	Phone     string `json:"phone,omitempty" doc:"E.164, optional"`
	Language  string `json:"language,omitempty" doc:"BCP 47; default en"`
}

func (r nurseRegistrationRequest) Validate() error {
	if r.Email == "" {
		return httpapi.FieldError("email", "is required")
	}
	return nil
}

func (a *API) mountRegistration(rt *httpapi.Router) {
	rt.HandleFunc(httpapi.Operation{
		Method: http.MethodPost, Path: "/api/v1/auth/nurse-registration", ID: "registerNurse", Tags: []string{"sign-in"},
		Summary: "A nurse asks for an account: it waits for an administrator's approval, and a link to set the " +
			"password is mailed. Always 202 (whether the address is taken never shows); 403 when the clinic has " +
			"not opened registration (HCW_NURSE_SELF_REGISTRATION).",
		Auth: httpapi.AuthNone, Request: nurseRegistrationRequest{},
		Status: http.StatusAccepted, Errors: []int{400, 403},
	}, a.registerNurse)
}

func (a *API) registerNurse(w http.ResponseWriter, r *http.Request) {
	if !a.p.NurseSelfRegistration {
		httpapi.WriteError(w, http.StatusForbidden, CodeRegistrationClosed, "this clinic does not take registrations; ask an administrator")
		return
	}
	var req nurseRegistrationRequest
	if err := httpapi.DecodeJSON(w, r, httpapi.DefaultMaxBody, &req); err != nil {
		a.writeErr(w, r, err)
		return
	}
	info := client(r)
	u, err := a.p.Accounts.Create(r.Context(), account.Actor{Type: "system", ClientIP: info.IP}, account.NewUser{
		Email: req.Email, FirstName: req.FirstName, LastName: req.LastName, Phone: req.Phone, Language: req.Language,
		Role: account.RoleNurse, Status: account.StatusPendingApproval,
	})
	switch {
	case errors.Is(err, account.ErrEmailTaken):
		// Same answer as a new registration; the owner of the address can
		// reset their password if they forgot they have an account.
		w.WriteHeader(http.StatusAccepted)
		return
	case err != nil:
		a.writeErr(w, r, err)
		return
	}
	token, expires, err := a.p.Accounts.IssueToken(r.Context(), account.SystemActor(), u.ID, account.PurposeSetup, account.DefaultSetupTTL)
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	w.WriteHeader(http.StatusAccepted)
	a.sendLink(r, u, "setup", token, expires)
}
