package e2e

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
)

// Passkeys in a real browser: Chromium's virtual authenticator (the
// DevTools WebAuthn domain) stands in for the laptop's platform
// authenticator (built in, resident keys, user verification that
// succeeds, presence confirmed at once). The doctor app talks to it through
// navigator.credentials exactly as it would to Touch ID or Windows Hello:
// the page is https://doctor.localhost, whose certificate the browser
// trusts (the edge's CA), and the backend binds the passkey to that host
// (RP ID doctor.localhost, origin https://doctor.localhost).

// authenticator is a virtual authenticator on one tab.
type authenticator struct {
	pg *page
	id webauthn.AuthenticatorID
}

// addAuthenticator enables the WebAuthn domain on the tab (no browser UI)
// and plugs in a platform authenticator that holds discoverable
// credentials and verifies its user.
func addAuthenticator(pg *page) *authenticator {
	pg.t.Helper()
	ctx, cancel := context.WithTimeout(pg.ctx, 10*time.Second)
	defer cancel()
	noUI := false
	if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{EnableUI: &noUI}); err != nil {
		pg.fail(fmt.Sprintf("WebAuthn.enable: %v", err))
	}
	res, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol:                    webauthn.AuthenticatorProtocolCtap2,
			Ctap2version:                webauthn.Ctap2versionCtap21,
			Transport:                   webauthn.AuthenticatorTransportInternal,
			HasResidentKey:              true,
			HasUserVerification:         true,
			IsUserVerified:              true,
			AutomaticPresenceSimulation: true,
		},
	})
	if err != nil {
		pg.fail(fmt.Sprintf("WebAuthn.addVirtualAuthenticator: %v", err))
	}
	return &authenticator{pg: pg, id: res.AuthenticatorID}
}

// credentials are the credentials the authenticator holds.
func (a *authenticator) credentials() []*webauthn.Credential {
	a.pg.t.Helper()
	ctx, cancel := context.WithTimeout(a.pg.ctx, 10*time.Second)
	defer cancel()
	res, err := chromedp.Call(ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: a.id})
	if err != nil {
		a.pg.fail(fmt.Sprintf("WebAuthn.getCredentials: %v", err))
	}
	return res.Credentials
}

// only is the one credential the authenticator holds, checked: bound to
// the doctor app's host, discoverable.
func (a *authenticator) only() *webauthn.Credential {
	a.pg.t.Helper()
	creds := a.credentials()
	if len(creds) != 1 {
		a.pg.fail(fmt.Sprintf("the authenticator holds %d credentials, want 1", len(creds)))
	}
	c := creds[0]
	if c.RpID != "doctor.localhost" {
		a.pg.fail(fmt.Sprintf("the passkey is bound to RP ID %q, want doctor.localhost", c.RpID))
	}
	if !c.IsResidentCredential {
		a.pg.t.Errorf("the passkey is not a discoverable (resident) credential")
	}
	return c
}

// passkeyRow is the selector of the Security view's row of a passkey.
func passkeyRow(id string) string {
	return fmt.Sprintf(`#passkey-list li[data-passkey-id=%q]`, id)
}

// addPasskey: in the Security view, the doctor names a passkey and adds
// it; the page says so and lists it. It returns the credential the
// authenticator made, whose ID is the row's.
func (r *rig) addPasskey(auth *authenticator, name string) *webauthn.Credential {
	r.t.Helper()
	d := r.doctor
	d.fill("#passkey-name", name)
	d.click("#passkey-add")
	d.waitJS("the passkey is added (or refused)",
		`document.getElementById("passkey-status")?.textContent.trim() || document.getElementById("passkey-error")`, 30*time.Second)
	if js[bool](d, `!!document.getElementById("passkey-error")`) {
		d.fail(fmt.Sprintf("adding the passkey failed: %q (secure context %v)", d.text("#passkey-error"), js[bool](d, `window.isSecureContext`)))
	}
	d.waitText("#passkey-status", "The passkey was added.", 5*time.Second)
	cred := auth.only()
	id := base64.RawURLEncoding.EncodeToString(cred.CredentialID)
	d.waitText(passkeyRow(id), name, 15*time.Second)
	if v := js[string](d, `document.getElementById("passkey-name").value`); v != "" {
		r.t.Errorf("the name field still holds %q after adding", v)
	}
	return cred
}

// signOutAndIn: the doctor signs out, then signs in again with e-mail and
// password, and is at the second step: a code, or a passkey.
func (r *rig) signOutAndIn() {
	r.t.Helper()
	d := r.doctor
	d.click("#sign-out")
	d.waitVisible("#signin-email", 20*time.Second)
	if v := js[string](d, `document.getElementById("signin-email").value + document.getElementById("signin-password").value`); v != "" {
		d.fail(fmt.Sprintf("the sign-in form holds %q after signing out", v))
	}
	d.fill("#signin-email", r.doctorEmail)
	d.fill("#signin-password", r.doctorPassword)
	d.click("#signin-submit")
	d.waitVisible("#totp-code", 20*time.Second)
	d.waitVisible("#passkey-signin", 10*time.Second)
}

// usePasskeyRefused: at the second step the doctor clicks "Use a passkey"
// and is refused with want; then types a TOTP code and is in.
func (r *rig) usePasskeyRefused(want, what string, during func()) {
	r.t.Helper()
	d := r.doctor
	d.click("#passkey-signin")
	if during != nil {
		during()
	}
	d.waitVisible("#passkey-signin-error", 20*time.Second)
	if got := strings.TrimSpace(d.text("#passkey-signin-error")); got != want {
		d.fail(fmt.Sprintf("%s: the sign-in says %q, want %q", what, got, want))
	}
	if js[bool](d, `!!document.getElementById("waiting-list")`) {
		d.fail(what + ": signed in anyway")
	}
	r.screen(d, "doctor-passkey-refused-"+what)
	d.fill("#totp-code", r.doctorTOTP.next(r.t))
	d.click("#totp-submit")
	d.waitVisible("#waiting-list", 20*time.Second)
}

// openSecurity opens the Security view from the menu and waits for its
// list.
func (r *rig) openSecurity() {
	r.t.Helper()
	d := r.doctor
	d.click("#nav-security")
	d.waitVisible("#passkey-name", 20*time.Second)
	d.waitJS("the passkeys are loaded", `!document.querySelector("section[aria-labelledby=security-title] .hcw-busy")`, 20*time.Second)
	if cur := js[string](d, `document.getElementById("nav-security").getAttribute("aria-current") ?? ""`); cur != "page" {
		r.t.Errorf("#nav-security aria-current=%q in the Security view, want page", cur)
	}
}

// TestPasskeyJourney: a doctor (password and TOTP) adds a passkey named
// "Laptop" in the Security view, made by Chromium's virtual platform
// authenticator; signs out, and signs in again with the password and the
// passkey instead of a code. They delete it (after confirming) and it is
// gone; a sign-in with it, which the authenticator still holds, is then
// refused with a clear message. Last, a passkey removed on the server
// while the browser is answering its challenge is refused too. The
// Security view is checked with axe-core.
func TestPasskeyJourney(t *testing.T) {
	r := newRig(t, "passkey")
	d := r.doctor
	auth := addAuthenticator(d)
	if !js[bool](d, `window.isSecureContext && typeof PublicKeyCredential === "function"`) {
		d.fail("no WebAuthn on https://doctor.localhost (isSecureContext, PublicKeyCredential)")
	}
	platform := js[bool](d, `PublicKeyCredential.isUserVerifyingPlatformAuthenticatorAvailable()`)
	t.Logf("a user-verifying platform authenticator is available: %v", platform)

	// The Security view, with no passkey yet.
	r.openSecurity()
	if !js[bool](d, `document.querySelectorAll("#passkey-list li").length === 0`) {
		d.fail("a new doctor has passkeys listed")
	}
	d.waitText("section[aria-labelledby=security-title]", "You have no passkey yet.", 5*time.Second)
	r.screen(d, "doctor-security-empty")

	// Adding "Laptop": the browser asks the authenticator, which makes a
	// key pair for doctor.localhost; the backend stores it.
	cred := r.addPasskey(auth, "Laptop")
	id := base64.RawURLEncoding.EncodeToString(cred.CredentialID)
	d.waitText(passkeyRow(id), "never used", 5*time.Second)
	// Recovery codes come with a first second factor only: this doctor
	// has theirs from the TOTP enrolment.
	if js[bool](d, `!!document.getElementById("passkey-recovery")`) {
		r.screen(d, "doctor-passkey-recovery-codes")
		d.click("#passkey-recovery-done")
		t.Log("the passkey came with recovery codes")
	} else {
		t.Log("no recovery codes with the passkey (the doctor has theirs from the TOTP enrolment)")
	}
	r.screen(d, "doctor-security-passkey")
	if n := psql(t, fmt.Sprintf(`SELECT count(*) FROM webauthn_credentials WHERE id = '\x%s'::bytea AND name = 'Laptop'`, hex.EncodeToString(cred.CredentialID))); n != "1" {
		t.Fatalf("the backend holds %s passkeys with the authenticator's credential ID, want 1", n)
	}

	// Signed out, then in with the password and the passkey: no code.
	r.signOutAndIn()
	r.screen(d, "doctor-second-factor-passkey")
	d.click("#passkey-signin")
	d.waitJS("signed in with the passkey (or refused)",
		`document.getElementById("waiting-list") || document.getElementById("passkey-signin-error")`, 30*time.Second)
	if js[bool](d, `!!document.getElementById("passkey-signin-error")`) {
		d.fail("the passkey sign-in was refused: " + d.text("#passkey-signin-error"))
	}
	d.waitVisible("#invite-create", 20*time.Second)
	if got := auth.only(); got.SignCount < 1 {
		t.Errorf("the authenticator's signature counter is %v after the sign-in, want at least 1", got.SignCount)
	}
	r.shot(d, "doctor-dashboard-by-passkey")
	d.checkCSP()

	// The Security view says when it was used; the doctor deletes it.
	r.openSecurity()
	d.waitText(passkeyRow(id), "last used on", 10*time.Second)
	del := "#passkey-delete-" + id
	if label := js[string](d, `document.getElementById(`+jsString("passkey-delete-"+id)+`).getAttribute("aria-label")`); label != "Delete the passkey Laptop" {
		t.Errorf("the delete button's name is %q", label)
	}
	d.click(del)
	d.waitVisible("#confirm-passkey-delete", 10*time.Second)
	d.waitText("#confirm-passkey-delete-text", "Laptop", 5*time.Second)
	r.screen(d, "doctor-passkey-delete-confirm")
	d.click("#confirm-passkey-delete")
	d.waitText("#passkey-status", "The passkey was deleted.", 20*time.Second)
	d.waitJS("the passkey is gone from the list", `!document.querySelector(`+jsString(passkeyRow(id))+`)`, 10*time.Second)
	d.waitText("section[aria-labelledby=security-title]", "You have no passkey yet.", 5*time.Second)
	r.shot(d, "doctor-security-deleted")
	if n := psql(t, fmt.Sprintf(`SELECT count(*) FROM webauthn_credentials WHERE id = '\x%s'::bytea`, hex.EncodeToString(cred.CredentialID))); n != "0" {
		t.Fatalf("the backend still holds the deleted passkey (%s rows)", n)
	}

	// The laptop still holds the key, the server no longer knows it: the
	// passkey sign-in is refused and says why; the code still works.
	auth.only()
	r.signOutAndIn()
	r.usePasskeyRefused("No passkey is registered for your account. Please use your code.", "deleted", nil)

	// A passkey removed on the server while the browser answers its
	// challenge (another session deleted it, say): the answer, signed by
	// a key the server no longer knows, is refused.
	r.openSecurity()
	cred2 := r.addPasskey(auth, "Laptop")
	if string(cred2.CredentialID) == string(cred.CredentialID) {
		t.Fatal("the authenticator reused the deleted credential ID")
	}
	r.signOutAndIn()
	answer := r.holdPasskeyAnswer()
	r.usePasskeyRefused("The passkey was not accepted.", "removed-meanwhile", func() {
		answer.release(func() {
			psql(t, fmt.Sprintf(`DELETE FROM webauthn_credentials WHERE id = '\x%s'::bytea`, hex.EncodeToString(cred2.CredentialID)))
		})
	})
	r.openSecurity()
	d.waitText("section[aria-labelledby=security-title]", "You have no passkey yet.", 10*time.Second)
	d.checkCSP()
}

// heldRequest is the doctor app's passkey answer (POST
// /api/v1/auth/passkeys/login), held in the browser until released.
type heldRequest struct {
	r      *rig
	paused chan fetch.EventRequestPaused
	stop   context.CancelFunc
}

// holdPasskeyAnswer intercepts (DevTools Fetch domain) the next passkey
// answer the doctor's tab sends, after the browser got the authenticator's
// assertion and before the backend sees it.
func (r *rig) holdPasskeyAnswer() *heldRequest {
	r.t.Helper()
	d := r.doctor
	ctx, stop := context.WithCancel(d.ctx)
	h := &heldRequest{r: r, paused: make(chan fetch.EventRequestPaused, 1), stop: stop}
	events := chromedp.Events(ctx, fetch.RequestPaused)
	go func() {
		for ev, err := range events {
			if err != nil {
				return
			}
			h.paused <- ev
			return
		}
	}()
	cctx, cancel := context.WithTimeout(d.ctx, 10*time.Second)
	defer cancel()
	if _, err := chromedp.Call(cctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{
		{URLPattern: "https://doctor.localhost/api/v1/auth/passkeys/login", RequestStage: fetch.RequestStageRequest},
	}}); err != nil {
		stop()
		d.fail(fmt.Sprintf("Fetch.enable: %v", err))
	}
	return h
}

// release waits for the held answer, runs meanwhile, and lets the answer
// go on to the backend.
func (h *heldRequest) release(meanwhile func()) {
	d := h.r.doctor
	defer h.stop()
	var ev fetch.EventRequestPaused
	select {
	case ev = <-h.paused:
	case <-time.After(30 * time.Second):
		d.fail("the passkey answer was never sent")
	}
	var body []byte
	for _, e := range ev.Request.PostDataEntries {
		body = append(body, e.Bytes...)
	}
	if ev.Request.Method != "POST" || !strings.Contains(string(body), `"authenticatorData"`) {
		d.fail(fmt.Sprintf("held %s %s, not an assertion", ev.Request.Method, ev.Request.URL))
	}
	meanwhile()
	ctx, cancel := context.WithTimeout(d.ctx, 10*time.Second)
	defer cancel()
	if _, err := chromedp.Call(ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID}); err != nil {
		d.fail(fmt.Sprintf("Fetch.continueRequest: %v", err))
	}
	if _, err := chromedp.Call(ctx, fetch.Disable, cdp.Empty{}); err != nil {
		d.fail(fmt.Sprintf("Fetch.disable: %v", err))
	}
}
