package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"
	tcexec "github.com/testcontainers/testcontainers-go/exec"
)

// The journeys below drive the real apps in Chromium through the edge.
// TestJourney's admin works in the admin app (sign-in with TOTP, the
// doctor's account, the queue's members, the statistics); the other
// journeys' admin sets up through the admin API, as the admin app does.

// rig is one test's appliance users: the admin (API, and in TestJourney
// the admin app in a browser context of their own), a doctor signed in in
// their own browser context, and the queue they serve.
type rig struct {
	t         *testing.T
	b         *browser
	mb        *mailbox
	admin     *http.Cookie
	adminTab  *page // the admin app, when the admin works in the browser
	queueID   string
	queueName string
	doctor    *page
	// The doctor's credentials, for a later sign-in: e-mail, password and
	// the TOTP codes of the secret enrolled.
	doctorEmail    string
	doctorPassword string
	doctorTOTP     *staffTOTP
	shots          string // screenshot name prefix
	n              int
}

// shot writes a numbered screenshot of a tab into e2e/artifacts/.
func (r *rig) shot(pg *page, what string) {
	r.n++
	pg.shot(fmt.Sprintf("%s-%02d-%s", r.shots, r.n, what))
}

// screen is a main screen of an app: checked with axe-core (serious and
// critical violations fail the test), then a screenshot.
func (r *rig) screen(pg *page, what string) {
	r.t.Helper()
	pg.axe(what)
	r.shot(pg, what)
}

// newRig: the admin creates a queue that asks for feedback and a doctor in
// it (API); the doctor opens the setup link from the mail, sets a password,
// signs in and enrols TOTP in the doctor app, and lands on the dashboard.
func newRig(t *testing.T, shots string, flags ...chromedp.ExecAllocatorOption) *rig {
	t.Helper()
	return buildRig(t, shots, false, flags...)
}

// newAdminRig is newRig with the admin in the admin app: signed in with
// password and TOTP in Chromium, they create the doctor and put them in
// the queue there.
func newAdminRig(t *testing.T, shots string, flags ...chromedp.ExecAllocatorOption) *rig {
	t.Helper()
	return buildRig(t, shots, true, flags...)
}

func buildRig(t *testing.T, shots string, adminInBrowser bool, flags ...chromedp.ExecAllocatorOption) *rig {
	t.Helper()
	r := &rig{t: t, b: newBrowser(t, flags...), mb: newMailbox(t), admin: adminSession(t), shots: shots}
	n := time.Now().UnixNano()
	// The queue asks for feedback (the admin app's form sets a name only).
	var queue struct{ ID string }
	r.queueName = fmt.Sprintf("Journey %d", n)
	status, body, _ := apiCall(t, r.admin, "admin.localhost", "POST", "/api/v1/admin/queues",
		map[string]any{"name": r.queueName, "ask_feedback": true})
	mustJSON(t, status, body, 201, &queue)
	r.queueID = queue.ID
	email := fmt.Sprintf("dr.journey%d@clinic.example", n)
	seen := r.mb.ids(t)
	if adminInBrowser {
		r.adminSignIn()
		r.adminCreatesDoctor(email, "Julia", "Journey")
	} else {
		var created struct {
			User struct{ ID string } `json:"user"`
		}
		status, body, _ = apiCall(t, r.admin, "admin.localhost", "POST", "/api/v1/admin/users", map[string]any{
			"email": email, "first_name": "Julia", "last_name": "Journey", "role": "doctor"})
		mustJSON(t, status, body, 201, &created)
		status, body, _ = apiCall(t, r.admin, "admin.localhost", "PUT", "/api/v1/admin/queues/"+queue.ID+"/members",
			map[string]any{"user_ids": []string{created.User.ID}})
		if status != 200 && status != 204 {
			t.Fatalf("set members: %d %s", status, body)
		}
	}
	mail := r.mb.waitNew(t, seen, email, 30*time.Second)
	token := checkLinkMail(t, mail, email, "Your HCW@Home account", "setup")
	if r.adminTab != nil {
		// The admin app showed the admin the same link, once.
		shown := js[string](r.adminTab, `document.getElementById("user-setup-link")?.textContent ?? ""`)
		if shown != "" && shown != "https://doctor.localhost/setup#"+token {
			t.Errorf("the admin app showed the setup link %q, the mail holds another one", shown)
		}
	}

	d := r.b.person("doctor").tab()
	r.doctor = d
	d.navigate("https://doctor.localhost/setup#" + token)
	d.waitVisible("#setup-password", 30*time.Second)
	d.checkCSP()
	const password = "journey doctor passphrase 2024"
	d.fill("#setup-password", password)
	d.fill("#setup-confirm", password)
	r.screen(d, "doctor-setup")
	d.click("#setup-submit")
	d.waitVisible("#signin-email", 20*time.Second)
	d.fill("#signin-email", email)
	d.fill("#signin-password", password)
	r.screen(d, "doctor-signin")
	d.click("#signin-submit")
	// First sign-in: TOTP enrolment with the secret the page shows.
	d.waitVisible("#totp-secret", 20*time.Second)
	r.screen(d, "doctor-totp-enrol")
	secret := strings.TrimSpace(d.text("#totp-secret"))
	now := time.Now()
	code, err := totp.GenerateCode(secret, now)
	if err != nil {
		t.Fatalf("TOTP secret %q: %v", secret, err)
	}
	r.doctorEmail, r.doctorPassword = email, password
	r.doctorTOTP = &staffTOTP{secret: secret, lastStep: now.Unix() / 30}
	d.fill("#totp-code", code)
	d.click("#totp-submit")
	d.waitVisible("#recovery-done", 20*time.Second)
	r.screen(d, "doctor-recovery-codes")
	d.click("#recovery-done")
	d.waitVisible("#waiting-list", 20*time.Second)
	d.waitVisible("#invite-create", 20*time.Second)
	d.checkCSP()
	return r
}

// adminSignIn: the admin (made by adminSession) signs in to the admin app
// in a browser context of their own, with password and a TOTP code, and
// sees the console.
func (r *rig) adminSignIn() {
	t := r.t
	t.Helper()
	a := r.b.person("admin").tab()
	r.adminTab = a
	a.navigate("https://admin.localhost/")
	a.waitVisible("#signin-email", 30*time.Second)
	a.checkCSP()
	a.fill("#signin-email", adminEmail)
	a.fill("#signin-password", staffPassword)
	r.screen(a, "admin-signin")
	a.click("#signin-submit")
	a.waitVisible("#totp-code", 20*time.Second)
	r.screen(a, "admin-second-factor")
	a.fill("#totp-code", adminTOTP.next(t))
	a.click("#totp-submit")
	a.waitVisible("#admin-users", 20*time.Second)
	a.waitVisible("#sign-out", 20*time.Second)
	// The console has loaded its lists: the rig's queue is in it.
	a.waitVisible(fmt.Sprintf(`#admin-queues [data-queue-id=%q]`, r.queueID), 20*time.Second)
	a.checkCSP()
	r.screen(a, "admin-console")
}

// adminCreatesDoctor: in the admin app, the admin creates the doctor's
// account (the backend mails them the setup link) and makes them a
// member of the rig's queue.
func (r *rig) adminCreatesDoctor(email, first, last string) {
	t := r.t
	t.Helper()
	a := r.adminTab
	a.fill("#user-email", email)
	a.fill("#user-first", first)
	a.fill("#user-last", last)
	a.choose("#user-role", "doctor")
	a.click("#user-create")
	a.waitText("#user-result", email, 20*time.Second)
	// The new account is in the list.
	a.waitJS("the doctor is in the users list",
		`[...document.querySelectorAll("#admin-users [data-user-id]")].some((tr) => tr.textContent.includes(`+jsString(email)+`))`, 20*time.Second)
	userID := js[string](a, `[...document.querySelectorAll("#admin-users [data-user-id]")].find((tr) => tr.textContent.includes(`+jsString(email)+`)).dataset.userId`)
	r.screen(a, "admin-doctor-created")

	// The queue's members: the doctor, ticked in the queue's member list.
	q := fmt.Sprintf(`#admin-queues [data-queue-id=%q]`, r.queueID)
	a.click(q + ` button[aria-expanded]`)
	a.waitVisible(q+` fieldset`, 10*time.Second)
	name := jsString(first + " " + last + " (")
	if n := js[int](a, `[...document.querySelectorAll(`+jsString(q+` label`)+`)].filter((l) => l.textContent.includes(`+name+`)).length`); n != 1 {
		a.fail(fmt.Sprintf("%d checkboxes for %s %s in the queue's members, want 1", n, first, last))
	}
	a.do(10*time.Second, "tick the doctor", chromedp.Evaluate[chromedp.Void](
		`[...document.querySelectorAll(`+jsString(q+` label`)+`)].find((l) => l.textContent.includes(`+name+`)).querySelector("input[type=checkbox]").click()`))
	r.screen(a, "admin-queue-members")
	a.click(q + ` form button[type=submit]`)
	a.waitVisible(q+` .hcw-notice-ok`, 20*time.Second)
	// What the admin app saved is what the API holds.
	status, body, _ := apiCall(t, r.admin, "admin.localhost", "GET", "/api/v1/admin/queues", nil)
	var queues struct {
		Queues []struct {
			ID        string   `json:"id"`
			MemberIDs []string `json:"member_ids"`
		} `json:"queues"`
	}
	mustJSON(t, status, body, 200, &queues)
	for _, qu := range queues.Queues {
		if qu.ID == r.queueID {
			if len(qu.MemberIDs) != 1 || qu.MemberIDs[0] != userID {
				t.Fatalf("the queue's members after the admin app saved them: %v, want [%s]", qu.MemberIDs, userID)
			}
			return
		}
	}
	t.Fatalf("queue %s not in the admin's list: %s", r.queueID, body)
}

// adminStatistics: in the admin app, the admin shows the statistics of the
// rig's queue: one consultation closed, completed, with a call (and the
// patient's good feedback, if sent).
func (r *rig) adminStatistics(feedbackGood bool) {
	r.t.Helper()
	a := r.adminTab
	a.choose("#stats-queue", r.queueID)
	a.click("#stats-apply")
	// Columns: day, queue, closed, completed, cancelled, average wait, p90
	// wait, average consultation, calls, feedback good, ok, bad.
	good := "true"
	if feedbackGood {
		good = `c[9] === "1"`
	}
	a.waitJS("the statistics count the consultation", `(() => {
		const rows = [...document.querySelectorAll("#stats-table tbody tr")].filter((tr) => tr.textContent.includes(`+jsString(r.queueName)+`));
		if (rows.length !== 1) return false;
		const c = [...rows[0].children].map((e) => e.textContent.trim());
		return c[2] === "1" && c[3] === "1" && c[4] === "0" && Number(c[8]) >= 1 && `+good+`;
	})()`, 20*time.Second)
	r.screen(a, "admin-statistics")
	r.n++
	a.shotOf("#admin-statistics", fmt.Sprintf("%s-%02d-admin-statistics-section", r.shots, r.n))
}

// patientVisit is one patient's consultation as the test follows it.
type patientVisit struct {
	email, link, cid string
	person           *person
	tab              *page
}

// invitePatient: the doctor invites by e-mail in the doctor app; the
// patient opens the link from the mail, accepts the terms, passes the
// pre-call check in the waiting room and waits. The doctor sees them
// appear, online, in the waiting list. setup runs on the patient's tab
// before the link opens (a phone viewport, say); lang, if set, is chosen
// with the language menu before the terms.
func (r *rig) invitePatient(first, last string, lang string, setup ...chromedp.Action[chromedp.Void]) *patientVisit {
	t := r.t
	t.Helper()
	d := r.doctor
	v := &patientVisit{email: fmt.Sprintf("patient%d@example.net", time.Now().UnixNano())}
	seen := r.mb.ids(t)
	d.fill("#invite-first-name", first)
	d.fill("#invite-last-name", last)
	d.fill("#invite-email", v.email)
	d.click("#invite-create")
	d.waitVisible("#invite-link", 20*time.Second)
	r.screen(d, "doctor-invite-created")
	msg := r.mb.waitNew(t, seen, v.email, 30*time.Second)
	m := inviteLink.FindStringSubmatch(msg.Text)
	if m == nil {
		t.Fatalf("no invite link in the mail: %q", msg.Text)
	}
	v.link = m[0]

	v.person = r.b.person("patient")
	p := v.person.tab(setup...)
	v.tab = p
	p.navigate(v.link)
	p.waitVisible("#terms-accept", 30*time.Second)
	p.checkCSP()
	// The token left the address bar at once.
	if u := js[string](p, `location.href`); strings.Contains(u, "/i/") {
		t.Errorf("the invite token is still in the address bar: %s", u)
	}
	if lang != "" {
		p.choose("#hcw-language-select", lang)
		p.waitJS("the page is in "+lang, fmt.Sprintf(`document.documentElement.lang === %q`, lang), 15*time.Second)
	}
	r.screen(p, "patient-terms")
	p.click("#terms-accept")
	p.click("#terms-submit")
	p.waitVisible("#queue-position", 30*time.Second)
	r.screen(p, "patient-waiting-room")
	// The pre-call check in the waiting room: camera preview, microphone.
	p.click("#precall-open")
	p.waitVisible("#precall-preview", 20*time.Second)
	p.waitJS("the pre-call preview plays", `document.getElementById("precall-preview").videoWidth > 0`, 30*time.Second)
	p.waitJS("the pre-call verdict", `document.getElementById("precall-verdict")?.dataset.verdict === "ready"`, 30*time.Second)
	r.screen(p, "patient-precall")
	p.click("#precall-continue")
	p.waitVisible("#precall-open", 20*time.Second)

	// The doctor sees the patient appear, live, online.
	d.waitJS("the patient waits, online, in the doctor's list",
		`[...document.querySelectorAll("#waiting-list [data-consultation-id]")].some((li) => li.textContent.includes(`+jsString(first)+`) && li.querySelector(".hcw-online"))`,
		30*time.Second)
	v.cid = js[string](d, `[...document.querySelectorAll("#waiting-list [data-consultation-id]")].find((li) => li.textContent.includes(`+jsString(first)+`)).dataset.consultationId`)
	r.screen(d, "doctor-waiting-list")
	return v
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// accept: the doctor accepts; the patient is told.
func (r *rig) accept(v *patientVisit) {
	r.t.Helper()
	r.doctor.click("#accept-" + v.cid)
	r.doctor.waitVisible("#start-video-call", 20*time.Second)
	v.tab.waitVisible("#doctor-joined", 20*time.Second)
	r.screen(v.tab, "patient-doctor-joined")
}

// chat: a message each way, each seen by the other side.
func (r *rig) chat(v *patientVisit, doctorSays, patientSays string) {
	r.t.Helper()
	d, p := r.doctor, v.tab
	d.fill("#chat-input", doctorSays)
	d.click("#chat-send")
	p.waitText("#chat-log", doctorSays, 20*time.Second)
	p.fill("#chat-input", patientSays)
	p.click("#chat-send")
	d.waitText("#chat-log", patientSays, 20*time.Second)
}

// videoCall: the doctor starts a video call (and is in it at once); the
// patient's page rings, the patient accepts, passes the pre-call check
// and joins.
func (r *rig) videoCall(v *patientVisit) {
	r.t.Helper()
	d, p := r.doctor, v.tab
	d.click("#start-video-call")
	d.waitVisible("#local-video", 30*time.Second)
	p.waitVisible("#call-accept", 30*time.Second)
	r.screen(p, "patient-incoming-call")
	p.click("#call-accept")
	p.waitJS("the call's pre-call verdict", `document.getElementById("precall-verdict")?.dataset.verdict === "ready"`, 30*time.Second)
	p.click("#precall-continue")
	p.waitVisible("#remote-video", 30*time.Second)
}

// joinGuest: a guest opens their link in a browser context of their own
// and joins the call that is on (it rings for them, or offers to join).
func (r *rig) joinGuest(link string) *page {
	r.t.Helper()
	g := r.b.person("guest").tab()
	g.navigate(link)
	g.click("#terms-accept")
	g.click("#terms-submit")
	g.waitJS("the guest is offered the call", `document.getElementById("call-accept") || document.getElementById("call-join")`, 30*time.Second)
	if js[bool](g, `!!document.getElementById("call-accept")`) {
		g.click("#call-accept")
	} else {
		g.click("#call-join")
	}
	g.waitJS("the guest's pre-call verdict", `document.getElementById("precall-verdict")?.dataset.verdict === "ready"`, 30*time.Second)
	g.click("#precall-continue")
	g.waitVisible("#remote-video", 30*time.Second)
	return g
}

// addParticipant: in the consultation view, the doctor opens "Add
// participant", fills the form (role, name, e-mail, language, delivery by
// link) and sends it; the view shows the link to pass on, once, and the
// participants list shows the new participant, invited. The form is
// checked with axe-core while it is open, link shown.
func (r *rig) addParticipant(role, first, last, email, lang string) string {
	r.t.Helper()
	d := r.doctor
	if js[string](d, `document.getElementById("add-participant").getAttribute("aria-expanded")`) != "false" {
		d.fail("#add-participant is not a collapsed toggle (aria-expanded)")
	}
	d.click("#add-participant")
	d.waitVisible("#add-participant-form", 10*time.Second)
	if js[string](d, `document.getElementById("add-participant").getAttribute("aria-expanded")`) != "true" {
		d.fail("#add-participant does not say the form is open (aria-expanded)")
	}
	d.choose("#participant-role", role)
	d.fill("#participant-first-name", first)
	d.fill("#participant-last-name", last)
	d.fill("#participant-email", email)
	d.choose("#participant-language", lang)
	d.choose("#participant-delivery", "link")
	d.click("#participant-send")
	d.waitJS("the participant's link", `document.getElementById("participant-link")?.textContent.trim() || document.getElementById("participant-error")`, 20*time.Second)
	if js[bool](d, `!!document.getElementById("participant-error")`) {
		d.fail("adding the participant failed: " + d.text("#participant-error"))
	}
	d.waitVisible("#participant-copy", 5*time.Second)
	link := strings.TrimSpace(d.text("#participant-link"))
	if !inviteLink.MatchString(link) {
		d.fail(fmt.Sprintf("the participant's link %q is not an invite link", link))
	}
	// The form is emptied for the next one.
	if v := js[string](d, `document.getElementById("participant-first-name").value + document.getElementById("participant-email").value`); v != "" {
		r.t.Errorf("the add-participant form still holds %q after sending", v)
	}
	who := jsString(first + " " + last)
	d.waitJS("the participant is in the doctor's participants list", fmt.Sprintf(
		`[...document.querySelectorAll("#participants-list li[data-role=%s]")].some((li) => li.textContent.includes(%s))`, role, who), 20*time.Second)
	r.screen(d, "doctor-add-"+role)
	r.n++
	d.shotOf("section[aria-labelledby=participants-title]", fmt.Sprintf("%s-%02d-doctor-participants-%s", r.shots, r.n, role))
	return link
}

// close: the doctor closes the consultation; the patient's page ends.
func (r *rig) close(v *patientVisit) {
	r.t.Helper()
	r.doctor.click("#close-consultation")
	r.doctor.click("#confirm-close")
	r.doctor.waitVisible("#consultation-closed", 20*time.Second)
	r.screen(r.doctor, "doctor-closed")
}

// feedbackEndpoint says whether the backend serves the participant
// feedback operation (another change is adding it).
func feedbackEndpoint(t *testing.T) bool {
	status, body, _ := apiCall(t, nil, "patient.localhost", "GET", "/api/v1/openapi.json", nil)
	return status == 200 && strings.Contains(string(body), `"giveFeedback"`)
}

// TestJourney is the whole journey with four browsers' worth of people:
// the admin signs in to the admin app with TOTP, creates a doctor and
// puts them in a queue; the doctor
// signs in with TOTP and invites by e-mail; the patient opens the link
// from the mail catcher, passes the pre-call check and waits; the doctor
// sees them appear live and accepts; they chat both ways; the doctor
// starts a video call and in both pages the remote video decodes frames
// and audio arrives; the doctor adds a guest in the consultation view and
// the guest joins the same call with the link it shows (three-way); the doctor
// closes; the patient sees the feedback form and sends it; the admin's
// statistics count the consultation, in the admin app too. Every main
// screen on the way is checked with axe-core.
func TestJourney(t *testing.T) {
	r := newAdminRig(t, "journey")
	d := r.doctor
	r.screen(d, "doctor-dashboard")
	v := r.invitePatient("Jane", "Journey", "")
	p := v.tab
	r.accept(v)
	r.chat(v, "Hello Jane, I am Dr Journey.", "Hello doctor, my knee hurts.")
	r.screen(p, "patient-chat")
	r.screen(d, "doctor-consultation")

	r.videoCall(v)
	d.waitMedia(1, 60*time.Second)
	p.waitMedia(1, 60*time.Second)
	r.screen(p, "patient-call")
	r.screen(d, "doctor-call")

	// The doctor adds a guest in the consultation view (a link to pass on)
	// and sees them in its participants list; the guest joins the call.
	link := r.addParticipant("guest", "Gustav", "Guest", fmt.Sprintf("guest%d@example.net", time.Now().UnixNano()), "en")
	g := r.joinGuest(link)
	g.waitMedia(2, 90*time.Second)
	d.waitMedia(2, 90*time.Second)
	p.waitMedia(2, 90*time.Second)
	d.waitJS("the guest is online in the doctor's participants list",
		`document.querySelector("#participants-list li[data-role=guest] .hcw-online")`, 30*time.Second)
	r.screen(g, "guest-call")
	r.screen(d, "doctor-three-way-call")

	// The admin's statistics before the close, to compare.
	before := consultationStats(t, r.queueID)

	r.close(v)
	p.waitVisible("form.hcw-feedback", 30*time.Second)
	g.waitJS("the guest's page ended", `document.getElementById("page-title")?.textContent.includes("ended")`, 30*time.Second)
	if js[bool](g, `!!document.querySelector("form.hcw-feedback")`) {
		t.Error("the guest was asked for feedback (only the patient is)")
	}
	r.screen(p, "patient-feedback-form")
	r.screen(g, "guest-ended")
	feedbackSent := feedbackEndpoint(t)
	if feedbackSent {
		p.click("#feedback-good")
		p.fill("#feedback-comment", "Quick and clear, thank you.")
		p.click("#feedback-submit")
		p.waitVisible("#feedback-thanks", 20*time.Second)
		r.screen(p, "patient-feedback-sent")
	} else {
		t.Log("the backend has no participant feedback endpoint yet: the form shows, not sent")
	}
	for _, pg := range []*page{d, p, g} {
		pg.checkCSP()
	}

	// The admin's statistics show the consultation.
	eventually(t, 15*time.Second, func() error {
		after := consultationStats(t, r.queueID)
		if len(after) != len(before)+1 || len(after) != 1 {
			return fmt.Errorf("statistics rows of the queue: %d before the close, %d after", len(before), len(after))
		}
		row := after[0]
		if row["close_reason"] != "completed" || num(row["calls_count"]) < 1 || num(row["participant_count"]) < 2 {
			return fmt.Errorf("statistics row %v", row)
		}
		if feedbackEndpoint(t) {
			if _, ok := row["feedback_good"]; ok && num(row["feedback_good"]) != 1 {
				return fmt.Errorf("statistics row without the feedback: %v", row)
			}
		}
		return nil
	})
	// And the admin sees it in the admin app's statistics.
	r.adminStatistics(feedbackSent)
	r.adminTab.checkCSP()
}

func num(v any) float64 {
	f, _ := v.(float64)
	return f
}

// consultationStats reads the anonymous statistics rows of a queue. There
// is no statistics API for the admin yet: when the OpenAPI document has
// one it is checked for the queue, otherwise the rows the close writes to
// consultation_stats are read from the database.
func consultationStats(t *testing.T, queueID string) []map[string]any {
	t.Helper()
	status, body, _ := apiCall(t, nil, "admin.localhost", "GET", "/api/v1/openapi.json", nil)
	if status == 200 {
		for _, path := range regexp.MustCompile(`"(/api/v1/admin/stat[a-z-]*)"`).FindAllStringSubmatch(string(body), -1) {
			t.Logf("admin statistics operation %s exists; reading the table it reports from", path[1])
		}
	}
	q := fmt.Sprintf(`SELECT coalesce(json_agg(row_to_json(s)), '[]') FROM consultation_stats s WHERE queue_id = '%s'`, queueID)
	code, out, err := stack.container(t, "postgres").Exec(context.Background(),
		[]string{"psql", "-U", "hcw", "-d", "hcw", "-tAc", q}, tcexec.Multiplexed())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(out)
	if code != 0 {
		t.Fatalf("psql: exit %d: %s", code, b)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(string(b))), &rows); err != nil {
		t.Fatalf("statistics: %v: %s", err, b)
	}
	return rows
}

// forceRelay sets the web call client's switch for relay-only ICE through
// TURN over TLS (localStorage, read when a call starts).
func forceRelay(pg *page) {
	pg.t.Helper()
	pg.do(10*time.Second, "force relay", chromedp.Evaluate[chromedp.Void](`localStorage.setItem("hcw.iceTransportPolicy", "relay")`))
}

// TestJourneyScreenShare: in a video call the doctor shares their screen
// (Chromium's fake capture: with --use-fake-ui-for-media-stream and
// --use-fake-device-for-media-stream, getDisplayMedia picks a fake
// "monitor" test pattern without a picker). The patient's page puts it on
// the main stage (layout "screen") and decodes its frames; the doctor
// stops and the patient's call goes back to the camera alone.
func TestJourneyScreenShare(t *testing.T) {
	r := newRig(t, "screen")
	d := r.doctor
	v := r.invitePatient("Sam", "Screen", "")
	p := v.tab
	r.accept(v)
	r.videoCall(v)
	d.waitMedia(1, 60*time.Second)
	p.waitMedia(1, 60*time.Second)
	if js[bool](p, `!!document.getElementById("call-screen")`) {
		t.Error("the patient is offered a screen share (the grant allows doctors only)")
	}

	d.waitVisible("#call-screen", 20*time.Second)
	if pressed := js[string](d, `document.getElementById("call-screen").getAttribute("aria-pressed")`); pressed != "false" {
		t.Errorf("#call-screen aria-pressed=%q before sharing, want false", pressed)
	}
	if name := js[string](d, `document.getElementById("call-screen").textContent.trim()`); name != "Share your screen" {
		t.Errorf("#call-screen says %q, want \"Share your screen\"", name)
	}
	d.click("#call-screen")
	d.waitJS("the doctor's page says it shares", `document.getElementById("call-screen")?.getAttribute("aria-pressed") === "true" || document.getElementById("call-screen-error")`, 20*time.Second)
	if js[bool](d, `!!document.getElementById("call-screen-error")`) {
		d.fail("the screen share did not start: " + d.text("#call-screen-error"))
	}
	d.waitVisible("#call-sharing", 10*time.Second)
	p.waitScreen(60 * time.Second)
	// The presenter's camera and voice go on beside the screen.
	p.waitMedia(1, 30*time.Second)
	r.screen(d, "doctor-sharing")
	r.screen(p, "patient-sees-screen")

	d.click("#call-screen")
	d.waitJS("the doctor's page stopped sharing", `document.getElementById("call-screen")?.getAttribute("aria-pressed") === "false" && !document.getElementById("call-sharing")`, 20*time.Second)
	p.waitJS("the patient's call is back to the camera", `!document.getElementById("remote-screen") && document.querySelector("section.hcw-call")?.dataset.layout === "solo"`, 30*time.Second)
	p.waitMedia(1, 30*time.Second)
	r.shot(p, "patient-share-ended")
	r.shot(d, "doctor-share-ended")

	// A second share: the node hands the patient's browser the m-section
	// the first share left inactive (a reused mid with a new msid), and the
	// screen must show again.
	d.click("#call-screen")
	d.waitJS("the doctor's page shares again", `document.getElementById("call-screen")?.getAttribute("aria-pressed") === "true" || document.getElementById("call-screen-error")`, 20*time.Second)
	if js[bool](d, `!!document.getElementById("call-screen-error")`) {
		d.fail("the second screen share did not start: " + d.text("#call-screen-error"))
	}
	p.waitScreen(60 * time.Second)
	p.waitMedia(1, 30*time.Second)
	r.shot(p, "patient-sees-second-share")
	d.click("#call-screen")
	p.waitJS("the patient's call is back to the camera again", `!document.getElementById("remote-screen") && document.querySelector("section.hcw-call")?.dataset.layout === "solo"`, 30*time.Second)
	p.waitMedia(1, 30*time.Second)
	for _, pg := range []*page{d, p} {
		pg.checkCSP()
	}
	r.close(v)
	p.waitVisible("form.hcw-feedback", 30*time.Second)
}

// TestJourneyRelayOnly: the same call with both browsers forced to TURN
// relay over TLS on 443 (iceTransportPolicy "relay", the turns: server
// only): frames decode both ways and the pair in use is a relay one.
func TestJourneyRelayOnly(t *testing.T) {
	// One network interface, as on a locked-down office machine: this host
	// has a Docker bridge per network, and a TURN allocation per interface
	// and peer connection would exhaust the test stack's 8 relay ports.
	r := newRig(t, "relay",
		// (headless Chromium reads this switch; --force-webrtc-ip-handling-policy
		// is the desktop browser's and is ignored here)
		chromedp.Flag("webrtc-ip-handling-policy", "default_public_interface_only"),
		chromedp.Flag("allow-loopback-in-peer-connection", false))
	v := r.invitePatient("Rita", "Relay", "")
	r.accept(v)
	forceRelay(r.doctor)
	forceRelay(v.tab)
	r.videoCall(v)
	for _, pg := range []*page{r.doctor, v.tab} {
		s := pg.waitMedia(1, 90*time.Second)
		for name, pair := range map[string]*candidatePair{"pub": s.Transport.Pub, "sub": s.Transport.Sub} {
			if pair == nil {
				t.Errorf("%s %s: no candidate pair in the stats", pg.who, name)
				continue
			}
			if pair.LocalType != "relay" || pair.RelayProtocol != "tls" {
				t.Errorf("%s %s: the pair in use is %+v, want a relay candidate over TLS", pg.who, name, pair)
			}
		}
	}
	r.shot(v.tab, "patient-relay-call")
	r.close(v)
	v.tab.waitVisible("form.hcw-feedback", 30*time.Second)
}

// TestJourneyRecovery: the patient's page loses the network for 5 s in the
// middle of a call: call and chat come back without a reload (a message
// sent meanwhile arrives). Then the patient closes the tab, opens the link
// again and is back in the consultation, and in the call.
func TestJourneyRecovery(t *testing.T) {
	r := newRig(t, "recovery")
	d := r.doctor
	v := r.invitePatient("Rob", "Recovery", "")
	p := v.tab
	r.accept(v)
	r.chat(v, "Before the outage.", "Me too, before.")
	r.videoCall(v)
	d.waitMedia(1, 60*time.Second)
	p.waitMedia(1, 60*time.Second)

	// A mark that a reload would wipe.
	p.do(5*time.Second, "mark", chromedp.Evaluate[chromedp.Void](`window.__hcwNoReload = "still here"`))
	outage := time.Now()
	p.setOffline(true)
	p.waitJS("the patient's page notices", `!navigator.onLine && (document.getElementById("connection-status") || document.getElementById("call-reconnecting"))`, 5*time.Second)
	r.screen(p, "patient-offline")
	// The doctor writes during the outage.
	d.fill("#chat-input", "Sent while you were offline.")
	d.click("#chat-send")
	// The outage lasts 5 s.
	time.Sleep(time.Until(outage.Add(5 * time.Second)))
	p.setOffline(false)

	p.waitText("#chat-log", "Sent while you were offline.", 45*time.Second)
	p.waitJS("the call is back", `!document.getElementById("call-reconnecting") && !document.getElementById("connection-status")`, 60*time.Second)
	p.waitMedia(1, 60*time.Second)
	d.waitMedia(1, 60*time.Second)
	r.chat(v, "Welcome back.", "Thanks, I am back.")
	if mark := js[string](p, `window.__hcwNoReload || ""`); mark != "still here" {
		t.Fatalf("the patient's page reloaded (mark %q)", mark)
	}
	r.shot(p, "patient-recovered")

	// The patient closes the tab and opens the link again.
	p.close()
	p2 := v.person.tab()
	v.tab = p2
	p2.navigate(v.link)
	p2.waitJS("the link opens the consultation again",
		`document.getElementById("terms-accept") || document.getElementById("chat-log")`, 30*time.Second)
	if js[bool](p2, `!!document.getElementById("terms-accept")`) {
		p2.click("#terms-accept")
		p2.click("#terms-submit")
	}
	p2.waitText("#chat-log", "Thanks, I am back.", 30*time.Second)
	p2.waitText("#chat-log", "Before the outage.", 5*time.Second)
	r.shot(p2, "patient-reopened")
	// The call is on and the patient is not in it any more: join again.
	p2.waitJS("the call is offered", `document.getElementById("call-join") || document.getElementById("call-accept")`, 30*time.Second)
	if js[bool](p2, `!!document.getElementById("call-accept")`) {
		p2.click("#call-accept")
	} else {
		p2.click("#call-join")
	}
	p2.waitJS("the pre-call verdict", `document.getElementById("precall-verdict")?.dataset.verdict === "ready"`, 30*time.Second)
	p2.click("#precall-continue")
	p2.waitMedia(1, 60*time.Second)
	d.waitMedia(1, 60*time.Second)
	r.shot(p2, "patient-back-in-call")
	r.close(v)
	p2.waitVisible("form.hcw-feedback", 30*time.Second)
}

// TestJourneyPhone: the patient's journey on a phone-sized screen
// (390x844, mobile, touch): nothing wider than the screen, the call's
// controls on screen.
func TestJourneyPhone(t *testing.T) {
	r := newRig(t, "phone")
	v := r.invitePatient("Pia", "Phone", "", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulateScale(2)))
	p := v.tab
	fits := func(where string) {
		t.Helper()
		if w := js[[]int](p, `[document.documentElement.scrollWidth, window.innerWidth]`); len(w) != 2 || w[0] > w[1] {
			r.shot(p, "too-wide-"+where)
			t.Errorf("%s: the page is %v px wide on a 390 px screen (scrollWidth, innerWidth)", where, w)
		}
	}
	fits("waiting room")
	r.accept(v)
	r.chat(v, "Hello from the desk.", "Hello from my phone.")
	fits("chat")
	r.screen(p, "patient-phone-chat")
	r.videoCall(v)
	p.waitMedia(1, 60*time.Second)
	r.doctor.waitMedia(1, 60*time.Second)
	fits("call")
	p.waitJS("the leave button is on screen", `(() => { const b = document.getElementById("call-leave").getBoundingClientRect(); return b.width > 0 && b.left >= 0 && b.right <= window.innerWidth; })()`, 10*time.Second)
	r.screen(p, "patient-phone-call")
	r.close(v)
	p.waitVisible("form.hcw-feedback", 30*time.Second)
	fits("feedback")
	r.screen(p, "patient-phone-feedback")
}

// TestJourneyArabic: the patient chooses Arabic: the page turns right to
// left (dir=rtl on <html>) through the waiting room, the chat, the call
// and the end.
func TestJourneyArabic(t *testing.T) {
	r := newRig(t, "arabic")
	v := r.invitePatient("Amal", "Arabic", "ar")
	p := v.tab
	rtl := func(where string) {
		t.Helper()
		if dir := js[string](p, `document.documentElement.dir`); dir != "rtl" {
			t.Errorf("%s: <html dir=%q>, want rtl", where, dir)
		}
	}
	rtl("waiting room")
	r.accept(v)
	r.chat(v, "Hello Amal.", "مرحبا دكتور")
	rtl("chat")
	r.screen(p, "patient-arabic-chat")
	r.videoCall(v)
	p.waitMedia(1, 60*time.Second)
	rtl("call")
	r.screen(p, "patient-arabic-call")
	r.close(v)
	p.waitVisible("form.hcw-feedback", 30*time.Second)
	rtl("feedback")
	r.screen(p, "patient-arabic-feedback")
}
