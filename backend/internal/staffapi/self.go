package staffapi

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/hcw-home/hcw/backend/internal/account"
	"github.com/hcw-home/hcw/backend/internal/authz"
	"github.com/hcw-home/hcw/backend/internal/httpapi"
	"github.com/hcw-home/hcw/backend/internal/mail"
	"github.com/hcw-home/hcw/backend/internal/signin"
)

// userBody is a user as the API shows it.
type userBody struct {
	ID           string    `json:"id"`
	Email        string    `json:"email"`
	FirstName    string    `json:"first_name"`
	LastName     string    `json:"last_name"`
	Phone        string    `json:"phone,omitempty" doc:"E.164"`
	Language     string    `json:"language" doc:"BCP 47, e.g. en, fr, de-CH"`
	Role         string    `json:"role" doc:"admin, doctor, nurse or scheduler"`
	Status       string    `json:"status" doc:"active, pending_approval or disabled"`
	AllQueues    bool      `json:"all_queues"`
	TermsVersion string    `json:"terms_version,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// meBody is the signed-in user and what the apps need to know of the
// session.
type meBody struct {
	userBody
	SessionIdleTimeoutSeconds int `json:"session_idle_timeout_seconds" doc:"a session unused for this long ends (HCW_SESSION_IDLE_TIMEOUT): the apps warn before"`
}

func userOf(u account.User) userBody {
	return userBody{ID: u.ID, Email: u.Email, FirstName: u.FirstName, LastName: u.LastName, Phone: u.Phone,
		Language: u.Language, Role: string(u.Role), Status: string(u.Status), AllQueues: u.AllQueues,
		TermsVersion: u.TermsVersion, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}
}

type changePasswordRequest struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

func (r changePasswordRequest) Validate() error {
	if r.CurrentPassword == "" {
		return httpapi.FieldError("current_password", "is required")
	}
	if r.NewPassword == "" {
		return httpapi.FieldError("new_password", "is required")
	}
	return nil
}

func (a *API) mountSelf(rt *httpapi.Router) {
	tags := []string{"me"}
	rt.HandleFunc(httpapi.Operation{
		Method: http.MethodGet, Path: "/api/v1/me", ID: "getMe", Tags: tags,
		Summary: "The signed-in user, and the session's idle timeout.",
		Auth:    httpapi.AuthSession, Permission: authz.PermSelf,
		Response: meBody{}, Errors: []int{401, 403},
	}, a.me)
	rt.HandleFunc(httpapi.Operation{
		Method: http.MethodPost, Path: "/api/v1/me/password", ID: "changeMyPassword", Tags: tags,
		Summary: "Change one's password (the current one is required); every session ends, this one too.",
		Auth:    httpapi.AuthSession, Permission: authz.PermSelf,
		Request: changePasswordRequest{}, Status: http.StatusNoContent, Errors: []int{400, 401, 403, 429},
	}, a.changePassword)
	rt.HandleFunc(httpapi.Operation{
		Method: http.MethodGet, Path: "/api/v1/colleagues", ID: "listColleagues", Tags: tags,
		Summary: "The other active doctors (id and name, by last name; at most 1,000), to transfer a consultation to one of them.",
		Auth:    httpapi.AuthSession, Permission: authz.PermConsultationsManage,
		Response: colleagueListBody{}, Errors: []int{401, 403},
	}, a.colleagues)
}

// colleagueBody is a doctor as other doctors see them: enough to choose
// whom to transfer a consultation to.
type colleagueBody struct {
	ID        string `json:"id"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
}

type colleagueListBody struct {
	Doctors []colleagueBody `json:"doctors"`
}

// maxColleagues bounds the list (ten pages of the user store).
const maxColleagues = 10 * account.MaxListLimit

// colleagues lists the other active doctors, by last then first name.
func (a *API) colleagues(w http.ResponseWriter, r *http.Request) {
	p, _ := httpapi.PrincipalFrom(r.Context())
	out := colleagueListBody{Doctors: []colleagueBody{}}
	params := account.ListParams{Role: account.RoleDoctor, Status: account.StatusActive, Limit: account.MaxListLimit}
	for len(out.Doctors) < maxColleagues {
		page, err := a.p.Accounts.List(r.Context(), params)
		if err != nil {
			a.writeErr(w, r, err)
			return
		}
		for _, u := range page.Users {
			if u.ID != p.UserID {
				out.Doctors = append(out.Doctors, colleagueBody{ID: u.ID, FirstName: u.FirstName, LastName: u.LastName})
			}
		}
		if page.Next == "" {
			break
		}
		params.Cursor = page.Next
	}
	slices.SortFunc(out.Doctors, func(x, y colleagueBody) int {
		return cmp.Or(cmp.Compare(strings.ToLower(x.LastName), strings.ToLower(y.LastName)),
			cmp.Compare(strings.ToLower(x.FirstName), strings.ToLower(y.FirstName)), cmp.Compare(x.ID, y.ID))
	})
	if len(out.Doctors) > maxColleagues {
		out.Doctors = out.Doctors[:maxColleagues]
	}
	httpapi.WriteJSON(w, http.StatusOK, out)
}

func (a *API) me(w http.ResponseWriter, r *http.Request) {
	p, _ := httpapi.PrincipalFrom(r.Context())
	u, err := a.p.Accounts.ByID(r.Context(), p.UserID)
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, meBody{userBody: userOf(u),
		SessionIdleTimeoutSeconds: int(a.p.SignIn.IdleTimeout() / time.Second)})
}

func (a *API) changePassword(w http.ResponseWriter, r *http.Request) {
	var req changePasswordRequest
	if err := httpapi.DecodeJSON(w, r, httpapi.DefaultMaxBody, &req); err != nil {
		a.writeErr(w, r, err)
		return
	}
	p, _ := httpapi.PrincipalFrom(r.Context())
	u, err := a.p.Accounts.ByID(r.Context(), p.UserID)
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	// Checking the current password goes through the throttled sign-in
	// path, so a stolen session cannot guess it at leisure.
	res, err := a.p.SignIn.SignIn(r.Context(), u.Email, req.CurrentPassword, client(r))
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	_ = a.p.SignIn.Revoke(r.Context(), res.Token, client(r))
	if err := a.p.Accounts.SetPassword(r.Context(), actor(r), u.ID, req.NewPassword); err != nil {
		a.writeErr(w, r, err)
		return
	}
	if _, err := a.p.SignIn.RevokeAllForUser(r.Context(), u.ID, signin.ReasonPasswordChanged); err != nil {
		a.writeErr(w, r, err)
		return
	}
	signin.ClearSessionCookie(w)
	w.WriteHeader(http.StatusNoContent)
}

// linkHost is the app a user's links open in.
func (a *API) linkHost(u account.User) string {
	if u.Role == account.RoleAdmin {
		return a.p.AdminHost
	}
	return a.p.DoctorHost
}

// linkURL builds a setup or reset link. The token travels in the fragment,
// which browsers never send to a server or in a Referer.
func (a *API) linkURL(u account.User, kind, token string) string {
	return fmt.Sprintf("https://%s/%s#%s", a.linkHost(u), kind, token)
}

// sendLink mails a setup or reset link. A failure is logged (without the
// address or the link) and does not fail the request: the administrator
// also sees a setup link, and a reset can be asked for again.
func (a *API) sendLink(r *http.Request, u account.User, kind, token string, expires time.Time) {
	subject, intro := "Your HCW@Home account", "An account was created for you on HCW@Home. Set your password here:"
	if kind == "reset" {
		subject, intro = "Reset your HCW@Home password", "Someone asked to reset the password of your HCW@Home account. If it was you, follow this link:"
	}
	err := a.p.Mail.Send(r.Context(), mail.Message{
		To:      []string{u.Email},
		Subject: subject,
		Text: fmt.Sprintf("%s\n\n%s\n\nThe link works once and expires at %s UTC.\n",
			intro, a.linkURL(u, kind, token), expires.UTC().Format("2006-01-02 15:04")),
		Language: u.Language,
	})
	if err != nil {
		a.p.Logger.Warn("could not mail a link", "kind", kind, "user_id", u.ID, "error", err.Error())
	}
}
