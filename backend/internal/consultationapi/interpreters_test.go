package consultationapi_test

import (
	"context"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/backend/internal/consultation"
	"github.com/hcw-home/hcw/backend/internal/consultationapi"
	"github.com/hcw-home/hcw/backend/internal/mail"
	"github.com/hcw-home/hcw/backend/internal/mail/mailtest"
)

// TestReschedule: an unredeemed invite's appointment moves with its
// expiry and opening window; one delivered by e-mail is mailed again
// with the new time and .ics and a new link (the old one stops working);
// one delivered as a link keeps it. Guests, interpreters and experts are
// scheduled the same way.
func TestReschedule(t *testing.T) {
	e := newEnv(t)
	f := e.clinic()
	now := e.clock.now()
	at := now.Add(48 * time.Hour)
	inv, oldToken := e.invite(f.doctorIn, map[string]any{"queue_id": f.queueID, "delivery": "email",
		"scheduled_at": at, "time_zone": "Europe/Zurich"})
	require.Len(t, e.mail.all(), 1)

	later := now.Add(72 * time.Hour)
	// Rescheduled a minute later: the calendar entry's revision grows.
	e.clock.set(now.Add(time.Minute))
	now = e.clock.now()
	path := "/api/v1/invites/" + inv.Invite.ID + "/reschedule"
	// Outsiders and bad input first.
	assert.Equal(t, 404, e.do(f.doctorOut, "POST", path, map[string]any{"scheduled_at": later, "time_zone": "Europe/Zurich"}).status)
	res := e.do(f.doctorIn, "POST", path, map[string]any{"scheduled_at": later})
	assert.Equal(t, 400, res.status)
	res = e.do(f.doctorIn, "POST", path, map[string]any{"scheduled_at": later, "time_zone": "Mars/Olympus"})
	assert.Equal(t, 400, res.status)

	res = e.do(f.doctorIn, "POST", path, map[string]any{"scheduled_at": later, "time_zone": "Europe/Paris"})
	require.Equal(t, 200, res.status, string(res.body))
	var out struct {
		Invite struct {
			ID          string
			ScheduledAt time.Time `json:"scheduled_at"`
			TimeZone    string    `json:"time_zone"`
			ExpiresAt   time.Time `json:"expires_at"`
			Status      string
		}
		Link string
	}
	res.json(t, &out)
	assert.Equal(t, inv.Invite.ID, out.Invite.ID, "the same invite")
	assert.WithinDuration(t, later, out.Invite.ScheduledAt, time.Millisecond)
	assert.Equal(t, "Europe/Paris", out.Invite.TimeZone)
	assert.WithinDuration(t, later.Add(consultation.DefaultInviteTTL), out.Invite.ExpiresAt, time.Millisecond)
	assert.Equal(t, "sent", out.Invite.Status)
	prefix := "https://" + patientHost + "/i/"
	require.True(t, strings.HasPrefix(out.Link, prefix))
	newToken := strings.TrimPrefix(out.Link, prefix)
	require.NotEqual(t, oldToken, newToken)

	mails := e.mail.all()
	require.Len(t, mails, 2)
	m := mails[1]
	assert.Contains(t, m.Text, newToken)
	assert.NotContains(t, m.Text, oldToken)
	require.Len(t, m.Attachments, 1)
	ics := string(m.Attachments[0].Data)
	assert.Contains(t, ics, "DTSTART:"+later.UTC().Format("20060102T150405Z"))
	assert.Contains(t, ics, "UID:"+inv.Invite.ID+"@hcw-home")
	assert.Regexp(t, regexp.MustCompile(`SEQUENCE:\d+`), ics)
	assert.Equal(t, 1, e.auditCount(consultation.ActionInviteRescheduled, inv.Invite.ConsultationID))

	// The old link is gone; the new one opens InviteEarly before the new
	// time.
	res, _ = e.redeem(oldToken)
	assert.Equal(t, 404, res.status)
	res, _ = e.redeem(newToken)
	assert.Equal(t, 409, res.status)
	assert.Contains(t, string(res.body), later.Add(-consultation.DefaultInviteEarly).UTC().Format(time.RFC3339))

	// A link invite keeps its link.
	linkInv, linkToken := e.invite(f.scheduler, map[string]any{"queue_id": f.queueID})
	res = e.do(f.scheduler, "POST", "/api/v1/invites/"+linkInv.Invite.ID+"/reschedule",
		map[string]any{"scheduled_at": now.Add(5 * time.Minute), "time_zone": "UTC"})
	require.Equal(t, 200, res.status, string(res.body))
	assert.NotContains(t, string(res.body), `"link":`)
	res, _ = e.redeem(linkToken)
	require.Equal(t, 200, res.status, "opens 10 min before, so now")
	// Redeemed: no more rescheduling.
	res = e.do(f.scheduler, "POST", "/api/v1/invites/"+linkInv.Invite.ID+"/reschedule",
		map[string]any{"scheduled_at": now.Add(time.Hour), "time_zone": "UTC"})
	assert.Equal(t, 409, res.status)
	assert.Equal(t, consultationapi.CodeInvalidTransition, res.code())

	// An expert scheduled tomorrow cannot come in yet.
	_, expertToken := e.addParticipant(f.doctorIn, linkInv.Invite.ConsultationID, map[string]any{"role": "expert",
		"scheduled_at": now.Add(24 * time.Hour), "time_zone": "Europe/Zurich"})
	res, _ = e.redeem(expertToken)
	assert.Equal(t, 409, res.status)
	assert.Equal(t, consultationapi.CodeInviteTooEarly, res.code())
	res = e.do(f.doctorIn, "POST", "/api/v1/consultations/"+linkInv.Invite.ConsultationID+"/invites",
		map[string]any{"role": "guest", "first_name": "A", "last_name": "B", "email": "a@example.org", "time_zone": "UTC"})
	assert.Equal(t, 400, res.status)
}

// smtpSender builds a real SMTP sender to the mail catcher.
func smtpSender(t *testing.T, srv *mailtest.Server) mail.Sender {
	t.Helper()
	s, err := mail.NewSMTP(mail.Params{Host: srv.SMTPHost, Port: srv.SMTPPort, From: `"HCW@Home" <noreply@hcw.test>`,
		TLSPolicy: mail.TLSNone, Timeout: 5 * time.Second, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	return s
}

var acceptLink = regexp.MustCompile(`https://` + regexp.QuoteMeta(patientHost) + `/interpreter/([A-Za-z0-9_-]{43})`)

// TestInterpreterRequests: the admin keeps organisations; a doctor asks
// one for an interpreter in a language; every member is mailed (through
// SMTP, in that language) a link; the first to accept gets the
// interpreter invite, the others' links answer already_taken; the doctor
// hears of it live. An unanswered request expires after its TTL and its
// links answer request_expired.
func TestInterpreterRequests(t *testing.T) {
	srv := mailtest.Start(t)
	e := newEnv(t)
	e.mail.setRelay(smtpSender(t, srv))
	e.live()
	f := e.clinic()

	base := "/api/v1/admin/interpreter-organisations"
	org := map[string]any{"name": "Interprètes Léman", "languages": []string{"fr", "ar", "ti"},
		"contact_email": "office@leman.example", "members": []string{"a@leman.example", "B@leman.example", "c@leman.example"}}
	res := e.do(f.admin, "POST", base, org)
	require.Equal(t, 201, res.status, string(res.body))
	var o struct {
		ID        string
		Members   []string
		Languages []string
	}
	res.json(t, &o)
	assert.Equal(t, []string{"a@leman.example", "b@leman.example", "c@leman.example"}, o.Members)
	res = e.do(f.admin, "POST", base, map[string]any{"name": "interprètes LÉMAN", "languages": []string{"fr"}, "members": []string{"x@y.example"}})
	assert.Equal(t, 409, res.status)
	for _, bad := range []map[string]any{
		{"name": "X", "languages": []string{"not a tag"}, "members": []string{"x@y.example"}},
		{"name": "X", "languages": []string{"fr"}, "members": []string{}},
		{"name": "X", "languages": []string{"fr"}, "members": []string{"nope"}},
	} {
		assert.Equal(t, 400, e.do(f.admin, "POST", base, bad).status, "%v", bad)
	}
	res = e.do(f.admin, "PUT", base+"/"+o.ID, map[string]any{"name": "Interprètes Léman", "languages": []string{"fr", "ar"},
		"members": []string{"a@leman.example", "b@leman.example", "c@leman.example"}})
	require.Equal(t, 200, res.status, string(res.body))
	// Members' addresses are sealed, and hidden from doctors.
	var plain bool
	require.NoError(t, e.pool.QueryRow(t.Context(),
		`SELECT position('leman.example'::bytea in members_sealed) > 0 FROM interpreter_organisations`).Scan(&plain))
	assert.False(t, plain)
	res = e.do(f.doctorIn, "GET", "/api/v1/interpreter-organisations", nil)
	require.Equal(t, 200, res.status)
	assert.Contains(t, string(res.body), o.ID)
	assert.NotContains(t, string(res.body), "leman.example")

	id, _ := e.activeConsultation(f)
	doctorWS := e.dial(f.doctorIn, doctorHost)
	reqPath := "/api/v1/consultations/" + id + "/interpreter-requests"
	assert.Equal(t, 404, e.do(f.doctorOut, "POST", reqPath, map[string]any{"organisation_id": o.ID, "language": "fr"}).status)
	res = e.do(f.doctorIn, "POST", reqPath, map[string]any{"organisation_id": o.ID, "language": "de"})
	assert.Equal(t, 400, res.status)
	assert.Contains(t, string(res.body), `"field":"language"`)
	res = e.do(f.doctorIn, "POST", reqPath, map[string]any{"organisation_id": o.ID, "language": "fr-CH"})
	require.Equal(t, 201, res.status, string(res.body))
	var ir struct {
		ID     string
		Mailed int
		Status string
	}
	res.json(t, &ir)
	assert.Equal(t, 3, ir.Mailed)
	assert.Equal(t, "open", ir.Status)

	tokens := map[string]string{}
	for _, to := range []string{"a@leman.example", "b@leman.example", "c@leman.example"} {
		m := srv.WaitFor(t, to, 10*time.Second)
		assert.Equal(t, "Interprète demandé(e) pour une téléconsultation", m.Subject, "in the requested language")
		match := acceptLink.FindStringSubmatch(m.Text)
		require.NotNil(t, match, m.Text)
		tokens[to] = match[1]
	}
	assert.Len(t, map[string]bool{tokens["a@leman.example"]: true, tokens["b@leman.example"]: true, tokens["c@leman.example"]: true}, 3)

	// Two members accept at once: exactly one wins.
	type result struct {
		status int
		code   string
		body   string
	}
	results := make([]result, 2)
	var wg sync.WaitGroup
	for i, to := range []string{"a@leman.example", "b@leman.example"} {
		wg.Go(func() {
			r := e.doAt(patientHost, &caller{}, "POST", "/api/v1/interpreter-requests/accept", map[string]string{"token": tokens[to]})
			results[i] = result{r.status, r.code(), string(r.body)}
		})
	}
	wg.Wait()
	var won result
	codes := []string{}
	for _, r := range results {
		if r.status == 201 {
			won = r
		} else {
			codes = append(codes, r.code)
			assert.Equal(t, 409, r.status)
		}
	}
	require.Equal(t, 201, won.status, "%v", results)
	assert.Equal(t, []string{consultationapi.CodeAlreadyTaken}, codes)
	res = e.doAt(patientHost, &caller{}, "POST", "/api/v1/interpreter-requests/accept", map[string]string{"token": tokens["c@leman.example"]})
	assert.Equal(t, 409, res.status)
	assert.Equal(t, consultationapi.CodeAlreadyTaken, res.code())

	d := waitMsg(t, doctorWS, consultation.TypeInterpreterRequestAccepted)
	assert.Equal(t, ir.ID, d["request_id"])
	assert.Equal(t, id, d["consultation_id"])

	// The winner's link is an interpreter invite of the consultation.
	m := regexp.MustCompile(`"link":"https://` + regexp.QuoteMeta(patientHost) + `/i/([A-Za-z0-9_-]{43})"`).FindStringSubmatch(won.body)
	require.NotNil(t, m, won.body)
	res, interpreter := e.redeem(m[1])
	require.Equal(t, 200, res.status, string(res.body))
	assert.Contains(t, string(res.body), `"role":"interpreter"`)
	assert.Contains(t, string(res.body), `"language":"fr-CH"`)
	res = e.do(f.doctorIn, "GET", "/api/v1/consultations/"+id+"/participants", nil)
	assert.Contains(t, string(res.body), `"role":"interpreter"`)
	assert.Contains(t, string(res.body), "Interprètes Léman")
	_ = interpreter

	// A second request nobody answers expires; its links then say so.
	srv.DeleteAll(t)
	res = e.do(f.doctorIn, "POST", reqPath, map[string]any{"organisation_id": o.ID, "language": "ar"})
	require.Equal(t, 201, res.status)
	res.json(t, &ir)
	var late string
	require.Eventually(t, func() bool {
		for _, s := range srv.Messages(t) {
			if len(s.To) == 1 && s.To[0].Address == "c@leman.example" {
				late = acceptLink.FindStringSubmatch(srv.Message(t, s.ID).Text)[1]
				return true
			}
		}
		return false
	}, 10*time.Second, 25*time.Millisecond)
	e.clock.set(e.clock.now().Add(consultation.DefaultInterpreterRequestTTL))
	n, err := e.svc.ExpireInterpreterRequests(context.Background())
	require.NoError(t, err)
	assert.EqualValues(t, 1, n)
	d = waitMsg(t, doctorWS, consultation.TypeInterpreterRequestExpired)
	assert.Equal(t, ir.ID, d["request_id"])
	res = e.doAt(patientHost, &caller{}, "POST", "/api/v1/interpreter-requests/accept", map[string]string{"token": late})
	assert.Equal(t, 410, res.status)
	assert.Equal(t, consultationapi.CodeRequestExpired, res.code())
	assert.Equal(t, 1, e.auditCount(consultation.ActionInterpreterRequestAccepted, id))
	assert.Equal(t, 1, e.auditCount(consultation.ActionInterpreterRequestExpired, id))

	// Unknown tokens count like unknown invite tokens.
	res = e.doAt(patientHost, &caller{}, "POST", "/api/v1/interpreter-requests/accept", map[string]string{"token": strings.Repeat("B", 43)})
	assert.Equal(t, 404, res.status)
	assert.Equal(t, consultationapi.CodeRequestInvalid, res.code())

	assert.Equal(t, 204, e.do(f.admin, "DELETE", base+"/"+o.ID, nil).status)
	assert.Equal(t, 404, e.do(f.admin, "GET", base+"/"+o.ID, nil).status)
}
