package settings

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hcw-home/hcw/backend/internal/audit"
	"github.com/hcw-home/hcw/backend/internal/authz"
	"github.com/hcw-home/hcw/backend/internal/clientinfo"
	"github.com/hcw-home/hcw/backend/internal/httpapi"
)

// LogoPath is where the logo is served, on every app host.
const LogoPath = "/api/v1/branding/logo"

// APIParams are the API's dependencies.
type APIParams struct {
	Settings *Service
	Logger   *slog.Logger
}

// API serves the settings routes: the administrators' and the public
// branding.
type API struct {
	p APIParams
}

// NewAPI returns the API.
func NewAPI(p APIParams) *API {
	if p.Logger == nil {
		p.Logger = slog.Default()
	}
	return &API{p: p}
}

type logoBody struct {
	URL         string    `json:"url" doc:"where the public app fetches it; changes with the image"`
	ContentType string    `json:"content_type" doc:"image/png, image/jpeg or image/webp, as detected from the bytes"`
	Size        int       `json:"size" doc:"bytes"`
	UpdatedAt   time.Time `json:"updated_at"`
}

type settingsBody struct {
	Settings Settings `json:"settings"`
	// Logo is null when none is stored.
	Logo                      *logoBody `json:"logo"`
	InviteTTLDefaultMinutes   int       `json:"invite_ttl_default_minutes" doc:"HCW_INVITE_TTL in whole minutes: the validity while invite_ttl_minutes is null"`
	InviteEarlyDefaultMinutes int       `json:"invite_early_default_minutes" doc:"HCW_INVITE_EARLY in whole minutes: the lead while invite_early_minutes is null"`
}

// Branding is what every app shows before anyone signs in.
type Branding struct {
	ProductName  string   `json:"product_name"`
	ClinicName   string   `json:"clinic_name" doc:"empty when none is set"`
	PrimaryColor string   `json:"primary_color" doc:"#rrggbb"`
	AccentColor  string   `json:"accent_color" doc:"#rrggbb"`
	LogoURL      *string  `json:"logo_url" doc:"same-origin path of the logo image, null when there is none"`
	Languages    []string `json:"languages" doc:"the languages offered to patients, in the order to offer them"`
}

func logoURL(l LogoInfo) string { return LogoPath + "?v=" + l.Version() }

func (a *API) settingsBody(snap Snapshot) settingsBody {
	ttl, early := a.p.Settings.InviteDefaults()
	body := settingsBody{Settings: snap.Settings,
		InviteTTLDefaultMinutes: int(ttl / time.Minute), InviteEarlyDefaultMinutes: int(early / time.Minute)}
	if l := snap.Logo; l != nil {
		body.Logo = &logoBody{URL: logoURL(*l), ContentType: l.ContentType, Size: l.Size, UpdatedAt: l.UpdatedAt}
	}
	return body
}

// logoTypes are the types an uploaded logo may turn out to be.
var logoTypes = []string{TypePNG, TypeJPEG, TypeWebP}

// Mount registers the settings operations.
func (a *API) Mount(rt *httpapi.Router) {
	admin := func(op httpapi.Operation, h http.HandlerFunc) {
		op.Auth, op.Permission, op.Tags = httpapi.AuthAny, authz.PermSettingsManage, []string{"admin: settings"}
		op.Errors = append(op.Errors, 401, 403)
		rt.HandleFunc(op, h)
	}
	admin(httpapi.Operation{Method: http.MethodGet, Path: "/api/v1/admin/settings", ID: "getSettings",
		Summary:  "The instance settings, the logo's description and the environment's invite defaults.",
		Response: settingsBody{}, Errors: []int{503}}, a.get)
	admin(httpapi.Operation{Method: http.MethodPut, Path: "/api/v1/admin/settings", ID: "updateSettings",
		Summary: "Replace the instance settings (the whole document); each change is audited.",
		Description: "Every field is required, except the invite overrides (null or absent: the environment's default). Limits: product_name 1-60 characters, " +
			"clinic_name 0-100, colours #rrggbb, closed_consultation_retention_days 1-3650, languages a non-empty subset of " +
			"en, fr, de, es, it, ar without repeats, invite_ttl_minutes 5-43200, invite_early_minutes 0-10080 and shorter " +
			"than the validity in force. Other replicas apply a change within 5 seconds.",
		Request: Settings{}, Response: settingsBody{}, Errors: []int{400, 413, 415}}, a.update)
	admin(httpapi.Operation{Method: http.MethodPut, Path: "/api/v1/admin/settings/logo", ID: "uploadLogo",
		Summary: "Replace the logo: the request body is the image itself.",
		Description: fmt.Sprintf("PNG, JPEG or WebP, at most %d bytes and %d by %d pixels. The type is detected from "+
			"the bytes; the Content-Type header is not trusted (multipart and JSON bodies are refused with 415). SVG is "+
			"refused: it can carry script.", MaxLogoBytes, MaxLogoSide, MaxLogoSide),
		RequestMediaTypes: logoTypes, MaxBody: MaxLogoBytes,
		Response: settingsBody{}, Errors: []int{400, 413, 415}}, a.uploadLogo)
	admin(httpapi.Operation{Method: http.MethodDelete, Path: "/api/v1/admin/settings/logo", ID: "deleteLogo",
		Summary: "Remove the logo (404 when there is none).", Status: http.StatusNoContent, Errors: []int{404}}, a.deleteLogo)

	public := []string{"branding"}
	rt.HandleFunc(httpapi.Operation{Method: http.MethodGet, Path: "/api/v1/branding", ID: "getBranding", Tags: public,
		Auth: httpapi.AuthNone, Summary: "Product and clinic name, colours, logo and patient languages, for every app before sign-in.",
		Response: Branding{}, Errors: []int{503}}, a.branding)
	rt.HandleFunc(httpapi.Operation{Method: http.MethodGet, Path: LogoPath, ID: "getBrandingLogo", Tags: public,
		Auth: httpapi.AuthNone, Summary: "The logo image (404 when there is none).",
		Description: "Served with its detected Content-Type, X-Content-Type-Options: nosniff, a strong ETag (304 on " +
			"If-None-Match) and, at the versioned URL that getBranding names, a year's immutable caching.",
		Query: []httpapi.QueryParam{
			{Name: "v", Description: "the image's version (16 hex digits), as in getBranding's logo_url: when it names the stored logo the answer may be cached for a year (immutable), otherwise it is not cached (no-cache); the same image is served either way"},
		},
		ResponseMediaTypes: logoTypes, Errors: []int{404, 503}}, a.logo)
}

func (a *API) get(w http.ResponseWriter, r *http.Request) {
	snap, err := a.p.Settings.Load(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, a.settingsBody(snap))
}

func (a *API) update(w http.ResponseWriter, r *http.Request) {
	var req Settings
	if err := httpapi.DecodeJSON(w, r, httpapi.DefaultMaxBody, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	snap, err := a.p.Settings.Update(r.Context(), actor(r), req)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, a.settingsBody(snap))
}

func (a *API) uploadLogo(w http.ResponseWriter, r *http.Request) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); strings.HasPrefix(mt, "multipart/") || mt == "application/json" {
		httpapi.WriteRequestError(w, &httpapi.RequestError{Status: http.StatusUnsupportedMediaType, Code: httpapi.CodeUnsupportedMediaType,
			Message: "send the image itself as the body (image/png, image/jpeg or image/webp)"})
		return
	}
	image, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxLogoBytes))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		httpapi.WriteRequestError(w, &httpapi.RequestError{Status: http.StatusRequestEntityTooLarge, Code: httpapi.CodeBodyTooLarge,
			Field: "logo", Message: fmt.Sprintf("is larger than %d bytes", MaxLogoBytes)})
		return
	}
	if err != nil {
		httpapi.WriteRequestError(w, httpapi.FieldError("logo", "could not be read"))
		return
	}
	snap, err := a.p.Settings.SetLogo(r.Context(), actor(r), image)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, a.settingsBody(snap))
}

func (a *API) deleteLogo(w http.ResponseWriter, r *http.Request) {
	if err := a.p.Settings.DeleteLogo(r.Context(), actor(r)); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// BrandingOf is the public view of a snapshot.
func BrandingOf(snap Snapshot) Branding {
	s := snap.Settings
	b := Branding{ProductName: s.ProductName, ClinicName: s.ClinicName, PrimaryColor: s.PrimaryColor,
		AccentColor: s.AccentColor, Languages: s.Languages}
	if snap.Logo != nil {
		u := logoURL(*snap.Logo)
		b.LogoURL = &u
	}
	return b
}

func (a *API) branding(w http.ResponseWriter, r *http.Request) {
	snap, err := a.p.Settings.Current(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, BrandingOf(snap))
}

func (a *API) logo(w http.ResponseWriter, r *http.Request) {
	snap, err := a.p.Settings.Current(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if snap.Logo == nil {
		httpapi.WriteError(w, http.StatusNotFound, httpapi.CodeNotFound, "no logo")
		return
	}
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	// At the URL of this very image (getBranding's logo_url) the bytes
	// never change; at any other, caches must ask again each time.
	if r.URL.Query().Get("v") == snap.Logo.Version() {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	if etagMatch(r.Header.Get("If-None-Match"), snap.Logo.ETag()) {
		h.Set("ETag", snap.Logo.ETag())
		w.WriteHeader(http.StatusNotModified)
		return
	}
	logo, err := a.p.Settings.Logo(r.Context())
	if errors.Is(err, ErrNoLogo) {
		h.Del("Cache-Control")
		httpapi.WriteError(w, http.StatusNotFound, httpapi.CodeNotFound, "no logo")
		return
	}
	if err != nil {
		h.Del("Cache-Control")
		a.fail(w, r, err)
		return
	}
	// The ETag of the bytes served, which a change between the two reads
	// may have made newer than the snapshot's.
	h.Set("ETag", LogoInfo{SHA256: logo.SHA256}.ETag())
	h.Set("Content-Type", logo.ContentType)
	h.Set("Content-Length", strconv.Itoa(len(logo.Image)))
	// Opened on its own, the image is still only an image.
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(logo.Image)
	}
}

// etagMatch is If-None-Match's weak comparison of a list of tags with tag.
func etagMatch(header, tag string) bool {
	for t := range strings.SplitSeq(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == tag {
			return true
		}
	}
	return false
}

// actor is the audit actor of an authenticated request.
func actor(r *http.Request) Actor {
	info, _ := clientinfo.FromContext(r.Context())
	p, _ := httpapi.PrincipalFrom(r.Context())
	if p.Kind == "api_key" {
		return Actor{Type: audit.ActorAPIKey, ID: p.ID, ClientIP: info.IP}
	}
	return Actor{Type: audit.ActorUser, ID: p.UserID, ClientIP: info.IP}
}

func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	var re *httpapi.RequestError
	var fe *FieldError
	switch {
	case errors.As(err, &re):
		httpapi.WriteRequestError(w, re)
	case errors.As(err, &fe):
		httpapi.WriteRequestError(w, httpapi.FieldError(fe.Field, "%s", fe.Reason))
	case errors.Is(err, ErrNoLogo):
		httpapi.WriteError(w, http.StatusNotFound, httpapi.CodeNotFound, "no logo")
	default:
		a.p.Logger.Error("request failed", "path", r.URL.Path, "error", err.Error())
		if r.Method == http.MethodGet {
			// Public reads answer 503 when the database is out and no
			// copy was ever read: the apps fall back to their defaults.
			httpapi.WriteError(w, http.StatusServiceUnavailable, httpapi.CodeUnavailable, "settings unavailable")
			return
		}
		httpapi.WriteError(w, http.StatusInternalServerError, httpapi.CodeInternal, "internal error")
	}
}
