package consultationapi_test

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/backend/internal/consultationapi"
	"github.com/hcw-home/hcw/backend/internal/httpapi"
	"github.com/hcw-home/hcw/backend/internal/mail"
)

var wildcard = regexp.MustCompile(`\{[^}]+\}`)

// TestRouteMatrix walks every operation of this package with every kind
// of caller. The expectations are written out here, apart from the
// policy, so a change to who may do what has to change both.
func TestRouteMatrix(t *testing.T) {
	e := newEnv(t)
	f := e.clinic()
	inv, token := e.invite(f.admin, map[string]any{"queue_id": f.queueID})
	res, patient := e.redeem(token)
	require.Equal(t, 200, res.status, string(res.body))
	_, guestToken := e.addParticipant(f.doctorIn, inv.Invite.ConsultationID, map[string]any{"role": "guest"})
	res, guest := e.redeem(guestToken)
	require.Equal(t, 200, res.status, string(res.body))

	admin := []string{"admin"}
	staff := []string{"admin", "doctor-in", "doctor-out", "nurse"}
	inviters := []string{"admin", "doctor-in", "doctor-out", "nurse", "scheduler-key"}
	participant := []string{"patient", "guest"}
	clinicians := []string{"doctor-in", "doctor-out", "nurse"}
	doctors := []string{"doctor-in", "doctor-out"}
	callMembers := []string{"doctor-in", "doctor-out", "patient", "guest"}
	expected := map[string][]string{
		"listQueues": admin, "createQueue": admin, "getQueue": admin, "updateQueue": admin,
		"deleteQueue": admin, "setQueueMembers": admin, "listMyQueues": staff,
		"createInvite": inviters, "listInvites": inviters, "getInvite": inviters,
		"resendInvite": inviters, "revokeInvite": inviters,
		"getParticipantMe": participant, "getParticipantConsultation": participant, "getQueuePosition": participant,
		"listWaitingConsultations": clinicians, "listMyConsultations": clinicians, "getConsultation": clinicians,
		"acceptConsultation": doctors, "sendConsultationEstimate": doctors, "transferConsultation": doctors,
		"cancelConsultation": doctors, "closeConsultation": doctors, "setConsultationNote": doctors,
		"sendMessage": doctors, "listMessages": doctors, "markMessagesRead": doctors,
		"sendParticipantMessage": participant, "listParticipantMessages": participant, "markParticipantMessagesRead": participant,
		"createParticipantInvite": doctors, "listParticipants": doctors,
		"startCall": doctors, "endCall": doctors, "getCall": callMembers, "acceptCall": callMembers,
		"declineCall": callMembers, "joinCall": callMembers,
		"rescheduleInvite": inviters, "requestInterpreter": doctors,
		"listInterpreterOrganisations": admin, "createInterpreterOrganisation": admin, "getInterpreterOrganisation": admin,
		"updateInterpreterOrganisation": admin, "deleteInterpreterOrganisation": admin,
		"listInterpreterOrganisationNames": {"admin", "doctor-in", "doctor-out"},
	}
	callers := map[string]*caller{
		"anonymous": {}, "admin": f.admin, "doctor-in": f.doctorIn, "doctor-out": f.doctorOut,
		"nurse": f.nurse, "scheduler-key": f.scheduler, "patient": patient, "guest": guest,
	}
	mine := map[string]bool{}
	for _, op := range e.rt.Operations() {
		if op.Auth == httpapi.AuthNone || !strings.Contains(op.Path, "/queues") && !strings.Contains(op.Path, "/invites") &&
			!strings.Contains(op.Path, "/participant") && !strings.Contains(op.Path, "/consultations") &&
			!strings.Contains(op.Path, "/interpreter") {
			continue
		}
		mine[op.ID] = true
		allowed, ok := expected[op.ID]
		require.True(t, ok, "operation %s has no expected row in the matrix", op.ID)
		// Unknown ids: an allowed caller gets 404 or a validation error,
		// never a change to the fixtures.
		path := wildcard.ReplaceAllString(op.Path, "00000000-0000-4000-8000-000000000000")
		var body any
		if op.Request != nil {
			body = map[string]string{}
		}
		for name, c := range callers {
			t.Run(op.ID+"/"+name, func(t *testing.T) {
				res := e.do(c, op.Method, path, body)
				refused := res.status == 401 || res.status == 403
				assert.Equal(t, !contains(allowed, name), refused, "%s %s as %s: %d %s", op.Method, path, name, res.status, res.body)
				if name == "anonymous" {
					assert.Equal(t, 401, res.status)
				}
			})
		}
	}
	for id := range expected {
		assert.True(t, mine[id], "expected row %s names no operation", id)
	}
	// The public operations are public.
	res = e.do(&caller{}, "POST", "/api/v1/invites/redeem", map[string]string{"token": "x"})
	assert.Equal(t, 404, res.status)
	res = e.do(&caller{}, "POST", "/api/v1/interpreter-requests/accept", map[string]string{"token": "x"})
	assert.Equal(t, 404, res.status)
	assert.Equal(t, consultationapi.CodeRequestInvalid, res.code())
	res = e.doAt(patientHost, &caller{}, "POST", "/api/v1/participant/consultations/"+inv.Invite.ConsultationID+"/feedback",
		map[string]string{"token": "x", "rating": "good"})
	assert.Equal(t, 404, res.status)
	assert.Equal(t, consultationapi.CodeFeedbackInvalid, res.code())
	// Every operation is in the OpenAPI document.
	res = e.do(&caller{}, "GET", "/api/v1/openapi.json", nil)
	require.Equal(t, 200, res.status)
	for id := range expected {
		assert.Contains(t, string(res.body), `"operationId":"`+id+`"`)
	}
	for _, id := range []string{"redeemInvite", "giveFeedback", "acceptInterpreterRequest"} {
		assert.Contains(t, string(res.body), `"operationId":"`+id+`"`)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func TestQueuesAdmin(t *testing.T) {
	e := newEnv(t)
	f := e.clinic()
	res := e.do(f.admin, "POST", "/api/v1/admin/queues", map[string]any{"name": "general PRACTICE"})
	assert.Equal(t, 409, res.status)
	assert.Equal(t, consultationapi.CodeQueueNameTaken, res.code())

	res = e.do(f.admin, "PATCH", "/api/v1/admin/queues/"+f.queueID, map[string]any{"ask_feedback": true})
	require.Equal(t, 200, res.status, string(res.body))
	assert.Contains(t, string(res.body), `"ask_feedback":true`)
	assert.Contains(t, string(res.body), f.doctorInUser.ID)

	// Members are doctors and nurses only.
	res = e.do(f.admin, "PUT", "/api/v1/admin/queues/"+f.queueID+"/members", map[string]any{"user_ids": []string{f.adminUser.ID}})
	assert.Equal(t, 400, res.status)
	assert.Contains(t, string(res.body), `"field":"user_ids"`)

	// Doctors list their own queues; admins all of them.
	var list struct{ Queues []struct{ ID, Name string } }
	res = e.do(f.doctorIn, "GET", "/api/v1/queues", nil)
	require.Equal(t, 200, res.status)
	res.json(t, &list)
	require.Len(t, list.Queues, 1)
	assert.Equal(t, f.queueID, list.Queues[0].ID)
	res = e.do(f.admin, "GET", "/api/v1/queues", nil)
	res.json(t, &list)
	assert.Len(t, list.Queues, 2)

	// A queue in use cannot be deleted; an empty one can.
	e.invite(f.admin, map[string]any{"queue_id": f.queueID})
	res = e.do(f.admin, "DELETE", "/api/v1/admin/queues/"+f.queueID, nil)
	assert.Equal(t, 409, res.status)
	assert.Equal(t, consultationapi.CodeQueueInUse, res.code())
	assert.Equal(t, 204, e.do(f.admin, "DELETE", "/api/v1/admin/queues/"+f.otherQueueID, nil).status)
	assert.Equal(t, 404, e.do(f.admin, "GET", "/api/v1/admin/queues/"+f.otherQueueID, nil).status)
}

func TestCreateInviteByEachCreator(t *testing.T) {
	e := newEnv(t)
	f := e.clinic()
	for name, tc := range map[string]struct {
		c    *caller
		body map[string]any
	}{
		"doctor in queue": {f.doctorIn, map[string]any{"queue_id": f.queueID}},
		"nurse in queue":  {f.nurse, map[string]any{"queue_id": f.queueID}},
		"nurse to doctor": {f.nurse, map[string]any{"doctor_id": f.doctorInUser.ID}},
		"doctor to other": {f.doctorOut, map[string]any{"doctor_id": f.doctorInUser.ID}},
		"admin":           {f.admin, map[string]any{"queue_id": f.otherQueueID}},
		"scheduler key":   {f.scheduler, map[string]any{"queue_id": f.queueID, "phone": "+41 22 123 45 67"}},
	} {
		t.Run(name, func(t *testing.T) {
			inv, token := e.invite(tc.c, tc.body)
			assert.Equal(t, "created", inv.Invite.Status)
			assert.Equal(t, "invited", inv.Invite.ConsultationStatus)
			assert.Len(t, token, 43)
			// The creator lists it; the token is never in a read.
			res := e.do(tc.c, "GET", "/api/v1/invites", nil)
			require.Equal(t, 200, res.status)
			assert.Contains(t, string(res.body), inv.Invite.ID)
			assert.NotContains(t, string(res.body), token)
			res = e.do(tc.c, "GET", "/api/v1/invites/"+inv.Invite.ID, nil)
			require.Equal(t, 200, res.status, string(res.body))
			assert.NotContains(t, string(res.body), token)
		})
	}

	// A doctor outside the queue: the queue does not exist for them.
	res := e.do(f.doctorOut, "POST", "/api/v1/invites", map[string]any{"first_name": "A", "last_name": "B",
		"email": "a@example.org", "queue_id": f.queueID})
	assert.Equal(t, 404, res.status, string(res.body))
	// Nor a doctor who is not a doctor.
	res = e.do(f.admin, "POST", "/api/v1/invites", map[string]any{"first_name": "A", "last_name": "B",
		"email": "a@example.org", "doctor_id": f.adminUser.ID})
	assert.Equal(t, 404, res.status, string(res.body))
	// Object checks on reads: the queue's doctor sees the admin's invite,
	// the doctor elsewhere does not.
	inv, _ := e.invite(f.admin, map[string]any{"queue_id": f.queueID})
	assert.Equal(t, 200, e.do(f.doctorIn, "GET", "/api/v1/invites/"+inv.Invite.ID, nil).status)
	assert.Equal(t, 404, e.do(f.doctorOut, "GET", "/api/v1/invites/"+inv.Invite.ID, nil).status)
	assert.Equal(t, 404, e.do(f.doctorOut, "POST", "/api/v1/invites/"+inv.Invite.ID+"/revoke", nil).status)
	assert.Equal(t, 404, e.do(f.scheduler, "GET", "/api/v1/invites/"+inv.Invite.ID, nil).status)
}

func TestInviteValidationNamesTheField(t *testing.T) {
	e := newEnv(t)
	f := e.clinic()
	big := strings.Repeat("x", 4100)
	future := e.clock.now().Add(48 * time.Hour).Format(time.RFC3339)
	for field, body := range map[string]map[string]any{
		"phone":        {"phone": "+999 123", "email": nil},
		"email":        {"email": "not an address"},
		"time_zone":    {"scheduled_at": future, "time_zone": "Mars/Olympus"},
		"scheduled_at": {"time_zone": "Europe/Zurich"},
		"metadata":     {"metadata": []int{1, 2}},
		"language":     {"language": "French!"},
		"first_name":   {"first_name": ""},
		"delivery":     {"delivery": "pigeon"},
		"queue_id":     {"queue_id": nil},
	} {
		t.Run(field, func(t *testing.T) {
			req := map[string]any{"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.org", "queue_id": f.queueID}
			for k, v := range body {
				if v == nil {
					delete(req, k)
				} else {
					req[k] = v
				}
			}
			res := e.do(f.admin, "POST", "/api/v1/invites", req)
			assert.Equal(t, 400, res.status, string(res.body))
			assert.Contains(t, string(res.body), `"field":"`+field+`"`)
		})
	}
	t.Run("metadata too large", func(t *testing.T) {
		res := e.do(f.admin, "POST", "/api/v1/invites", map[string]any{"first_name": "Ada", "last_name": "L",
			"email": "ada@example.org", "queue_id": f.queueID, "metadata": map[string]string{"k": big}})
		assert.Equal(t, 400, res.status, string(res.body))
		assert.Contains(t, string(res.body), `"field":"metadata"`)
	})
}

func TestRedeem(t *testing.T) {
	e := newEnv(t)
	f := e.clinic()

	t.Run("ok, and again while open for the same participant", func(t *testing.T) {
		inv, token := e.invite(f.doctorIn, map[string]any{"queue_id": f.queueID})
		res, p1 := e.redeem(token)
		require.Equal(t, 200, res.status, string(res.body))
		assert.Contains(t, res.header.Get("Set-Cookie"), "__Host-hcw_session=")
		var first struct {
			ParticipantID  string `json:"participant_id"`
			ConsultationID string `json:"consultation_id"`
		}
		res.json(t, &first)
		assert.Equal(t, inv.Invite.ParticipantID, first.ParticipantID)

		res = e.do(f.doctorIn, "GET", "/api/v1/invites/"+inv.Invite.ID, nil)
		assert.Contains(t, string(res.body), `"status":"redeemed"`)
		assert.Contains(t, string(res.body), `"consultation_status":"pending"`)

		res, p2 := e.redeem(token)
		require.Equal(t, 200, res.status, string(res.body))
		var second struct {
			ParticipantID string `json:"participant_id"`
		}
		res.json(t, &second)
		assert.Equal(t, first.ParticipantID, second.ParticipantID)
		assert.NotEqual(t, p1.cookie, p2.cookie)
		var participants int
		require.NoError(t, e.pool.QueryRow(t.Context(), `SELECT count(*) FROM participants WHERE consultation_id = $1`, first.ConsultationID).Scan(&participants))
		assert.Equal(t, 1, participants)
		for _, c := range []*caller{p1, p2} {
			res = e.doAt(patientHost, c, "GET", "/api/v1/participant/me", nil)
			require.Equal(t, 200, res.status, string(res.body))
			assert.Contains(t, string(res.body), `"queue_name":"General practice"`)
			assert.Contains(t, string(res.body), `"consultation_status":"pending"`)
			assert.Contains(t, string(res.body), `"role":"patient"`)
		}
	})

	t.Run("too early, then open", func(t *testing.T) {
		at := e.clock.now().Add(48 * time.Hour)
		inv, token := e.invite(f.doctorIn, map[string]any{"queue_id": f.queueID, "scheduled_at": at.Format(time.RFC3339), "time_zone": "Europe/Zurich"})
		res, _ := e.redeem(token)
		assert.Equal(t, 409, res.status)
		assert.Equal(t, consultationapi.CodeInviteTooEarly, res.code())
		var body struct {
			Error struct {
				OpensAt time.Time `json:"opens_at"`
			}
		}
		res.json(t, &body)
		assert.True(t, at.Add(-10*time.Minute).Equal(body.Error.OpensAt), "%s", body.Error.OpensAt)
		res = e.do(f.doctorIn, "GET", "/api/v1/invites/"+inv.Invite.ID, nil)
		assert.Contains(t, string(res.body), `"status":"opened"`)

		e.clock.set(at.Add(-5 * time.Minute))
		res, _ = e.redeem(token)
		assert.Equal(t, 200, res.status, string(res.body))
	})

	t.Run("expired", func(t *testing.T) {
		inv, token := e.invite(f.doctorIn, map[string]any{"queue_id": f.queueID})
		e.clock.set(e.clock.now().Add(24*time.Hour + time.Second))
		res, _ := e.redeem(token)
		assert.Equal(t, 410, res.status)
		assert.Equal(t, consultationapi.CodeInviteExpired, res.code())
		res = e.do(f.doctorIn, "GET", "/api/v1/invites/"+inv.Invite.ID, nil)
		assert.Contains(t, string(res.body), `"status":"expired"`)
	})

	t.Run("revoked", func(t *testing.T) {
		inv, token := e.invite(f.doctorIn, map[string]any{"queue_id": f.queueID})
		res, p := e.redeem(token)
		require.Equal(t, 200, res.status)
		res = e.do(f.doctorIn, "POST", "/api/v1/invites/"+inv.Invite.ID+"/revoke", nil)
		require.Equal(t, 200, res.status, string(res.body))
		assert.Contains(t, string(res.body), `"status":"revoked"`)
		res, _ = e.redeem(token)
		assert.Equal(t, 410, res.status)
		assert.Equal(t, consultationapi.CodeInviteRevoked, res.code())
		assert.Equal(t, 401, e.doAt(patientHost, p, "GET", "/api/v1/participant/me", nil).status, "revoking ends the sessions")
		res = e.do(f.doctorIn, "POST", "/api/v1/invites/"+inv.Invite.ID+"/revoke", nil)
		assert.Equal(t, 409, res.status)
		assert.Equal(t, consultationapi.CodeInvalidTransition, res.code())
	})

	t.Run("unknown", func(t *testing.T) {
		for _, tok := range []string{"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "short", "../../etc/passwd"} {
			res, _ := e.redeem(tok)
			assert.Equal(t, 404, res.status)
			assert.Equal(t, consultationapi.CodeInviteInvalid, res.code())
		}
	})

	t.Run("closed", func(t *testing.T) {
		inv, token := e.invite(f.doctorIn, map[string]any{"queue_id": f.queueID})
		res, p := e.redeem(token)
		require.Equal(t, 200, res.status)
		require.Equal(t, 200, e.do(f.doctorIn, "POST", "/api/v1/consultations/"+inv.Invite.ConsultationID+"/accept", nil).status)
		require.Equal(t, 200, e.do(f.doctorIn, "POST", "/api/v1/consultations/"+inv.Invite.ConsultationID+"/close", nil).status)
		res, _ = e.redeem(token)
		assert.Equal(t, 410, res.status)
		assert.Equal(t, consultationapi.CodeConsultationClosed, res.code())
		assert.Equal(t, 401, e.doAt(patientHost, p, "GET", "/api/v1/participant/me", nil).status, "closing ends the sessions")
	})
}

func TestRedeemRateLimit(t *testing.T) {
	e := newEnv(t)
	for i := range 20 {
		res, _ := e.redeem(fmt.Sprintf("%043d", i))
		require.Equal(t, 404, res.status, "attempt %d", i+1)
	}
	res, _ := e.redeem("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	assert.Equal(t, 429, res.status)
	assert.Equal(t, consultationapi.CodeThrottled, res.code())
	assert.Equal(t, "1", res.header.Get("Retry-After"))
	// The wait passes with the clock.
	e.clock.set(e.clock.now().Add(2 * time.Second))
	res, _ = e.redeem("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	assert.Equal(t, 404, res.status)
	res, _ = e.redeem("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	assert.Equal(t, 429, res.status)
	assert.Equal(t, "2", res.header.Get("Retry-After"), "the wait doubles")
}

func TestParticipantIsScoped(t *testing.T) {
	e := newEnv(t)
	f := e.clinic()
	a, tokA := e.invite(f.doctorIn, map[string]any{"queue_id": f.queueID})
	b, tokB := e.invite(f.doctorOut, map[string]any{"queue_id": f.otherQueueID})
	res, patientA := e.redeem(tokA)
	require.Equal(t, 200, res.status)
	res, _ = e.redeem(tokB)
	require.Equal(t, 200, res.status)

	res = e.doAt(patientHost, patientA, "GET", "/api/v1/participant/consultations/"+a.Invite.ConsultationID, nil)
	assert.Equal(t, 200, res.status, string(res.body))
	for _, id := range []string{b.Invite.ConsultationID, "00000000-0000-4000-8000-000000000000", "not-an-id"} {
		res = e.doAt(patientHost, patientA, "GET", "/api/v1/participant/consultations/"+id, nil)
		assert.Equal(t, 404, res.status)
		assert.Equal(t, httpapi.CodeNotFound, res.code())
	}
	var denied int
	require.NoError(t, e.pool.QueryRow(t.Context(), `SELECT count(*) FROM audit_events WHERE action = 'consultation.read' AND outcome = 'denied' AND object_id = $1`,
		b.Invite.ConsultationID).Scan(&denied))
	assert.Equal(t, 1, denied, "the attempt is audited")

	// Staff routes refuse a participant.
	for _, path := range []string{"/api/v1/me", "/api/v1/invites", "/api/v1/invites/" + b.Invite.ID, "/api/v1/admin/queues", "/api/v1/queues", "/api/v1/admin/users"} {
		assert.Equal(t, 403, e.doAt(patientHost, patientA, "GET", path, nil).status, path)
	}
}

func TestSealedAtRest(t *testing.T) {
	e := newEnv(t)
	f := e.clinic()
	e.invite(f.admin, map[string]any{"queue_id": f.queueID, "first_name": "Zebulon", "last_name": "Quixotic",
		"email": "zebulon.q@example.org", "phone": "+41791234567", "note": "MARKER-NOTE chest pain",
		"metadata": map[string]string{"ehr": "MARKER-META"}})
	for _, table := range []string{"invites", "participants", "consultations", "audit_events"} {
		var text string
		require.NoError(t, e.pool.QueryRow(t.Context(), fmt.Sprintf(`SELECT coalesce(string_agg(t::text, ' '), '') FROM %s t`, table)).Scan(&text))
		for _, marker := range []string{"Zebulon", "Quixotic", "zebulon.q", "41791234567", "MARKER-NOTE", "MARKER-META"} {
			assert.NotContains(t, text, marker, "%s holds %s in clear", table, marker)
		}
	}
}

func TestEmailInviteWithCalendar(t *testing.T) {
	e := newEnv(t)
	f := e.clinic()
	zurich, err := time.LoadLocation("Europe/Zurich")
	require.NoError(t, err)
	d := e.clock.now().In(zurich).AddDate(0, 0, 3)
	at := time.Date(d.Year(), d.Month(), d.Day(), 10, 30, 0, 0, zurich)
	inv, token := e.invite(f.doctorIn, map[string]any{"queue_id": f.queueID, "delivery": "email", "language": "fr-CH",
		"first_name": "Amélie", "scheduled_at": at.Format(time.RFC3339), "time_zone": "Europe/Zurich"})
	assert.Equal(t, "sent", inv.Invite.Status)

	msgs := e.mail.all()
	require.Len(t, msgs, 1)
	m := msgs[0]
	assert.Equal(t, []string{"ada@example.org"}, m.To)
	assert.Equal(t, "fr", m.Language)
	assert.Contains(t, m.Subject, "téléconsultation")
	assert.Contains(t, m.Text, "Bonjour Amélie")
	assert.Contains(t, m.Text, "https://"+patientHost+"/i/"+token)
	require.Len(t, m.Attachments, 1)
	ics := string(m.Attachments[0].Data)
	assert.True(t, strings.HasPrefix(m.Attachments[0].ContentType, "text/calendar"))
	assert.NotContains(t, strings.ReplaceAll(ics, "\r\n", ""), "\n", "CRLF line endings only")
	unfolded := strings.ReplaceAll(ics, "\r\n ", "")
	props := map[string]string{}
	for _, line := range strings.Split(strings.TrimSuffix(unfolded, "\r\n"), "\r\n") {
		k, v, ok := strings.Cut(line, ":")
		require.True(t, ok, line)
		props[k] = v
	}
	assert.Equal(t, at.UTC().Format("20060102T150405Z"), props["DTSTART"])
	assert.Equal(t, at.Add(30*time.Minute).UTC().Format("20060102T150405Z"), props["DTEND"])
	assert.Equal(t, "https://"+patientHost+"/i/"+token, props["URL"])
	assert.Equal(t, "Téléconsultation", props["SUMMARY"])
	for _, line := range strings.Split(ics, "\r\n") {
		assert.LessOrEqual(t, len(line), 75, line)
	}

	// An unscheduled English invite has no calendar; an unknown language
	// falls back to English.
	e.invite(f.doctorIn, map[string]any{"queue_id": f.queueID, "delivery": "email", "language": "de"})
	msgs = e.mail.all()
	require.Len(t, msgs, 2)
	assert.Equal(t, "en", msgs[1].Language)
	assert.Contains(t, msgs[1].Text, "Hello Ada")
	assert.Empty(t, msgs[1].Attachments)
}

func TestDeliveryFailureKeepsAReason(t *testing.T) {
	e := newEnv(t)
	f := e.clinic()
	for reason, err := range map[string]error{
		"mail_not_configured": mail.ErrNotConfigured,
		"relay_refused":       errors.New("550 mailbox ada@example.org unknown"),
	} {
		e.mail.setFail(err)
		inv, _ := e.invite(f.doctorIn, map[string]any{"queue_id": f.queueID, "delivery": "email"})
		assert.Equal(t, "delivery_failed", inv.Invite.Status)
		assert.Equal(t, reason, inv.Invite.DeliveryError)
		var stored string
		require.NoError(t, e.pool.QueryRow(t.Context(), `SELECT delivery_error FROM invites WHERE id = $1`, inv.Invite.ID).Scan(&stored))
		assert.Equal(t, reason, stored)
	}
	assert.NotContains(t, e.logs.String(), "ada@example.org")
}

func TestResendRevokesTheOldToken(t *testing.T) {
	e := newEnv(t)
	f := e.clinic()
	old, oldToken := e.invite(f.doctorIn, map[string]any{"queue_id": f.queueID, "delivery": "email"})
	res := e.do(f.doctorIn, "POST", "/api/v1/invites/"+old.Invite.ID+"/resend", nil)
	require.Equal(t, 201, res.status, string(res.body))
	var fresh issued
	res.json(t, &fresh)
	newToken := strings.TrimPrefix(fresh.Link, "https://"+patientHost+"/i/")
	assert.NotEqual(t, oldToken, newToken)
	assert.NotEqual(t, old.Invite.ID, fresh.Invite.ID)
	assert.Equal(t, old.Invite.ParticipantID, fresh.Invite.ParticipantID)
	assert.Equal(t, "sent", fresh.Invite.Status)
	assert.Len(t, e.mail.all(), 2)

	res, _ = e.redeem(oldToken)
	assert.Equal(t, 410, res.status)
	assert.Equal(t, consultationapi.CodeInviteRevoked, res.code())
	res, _ = e.redeem(newToken)
	assert.Equal(t, 200, res.status, string(res.body))
	res = e.do(f.doctorIn, "GET", "/api/v1/invites/"+old.Invite.ID, nil)
	assert.Contains(t, string(res.body), `"status":"revoked"`)
}

func TestTokenNeverLogged(t *testing.T) {
	e := newEnv(t)
	f := e.clinic()
	_, token := e.invite(f.doctorIn, map[string]any{"queue_id": f.queueID, "delivery": "email"})
	res, p := e.redeem(token)
	require.Equal(t, 200, res.status)
	e.doAt(patientHost, p, "GET", "/api/v1/participant/me", nil)
	e.redeem(token)
	logs := e.logs.String()
	require.Contains(t, logs, "/api/v1/invites/redeem", "the access log was captured")
	assert.NotContains(t, logs, token)
	assert.NotContains(t, logs, p.cookie)
}

func TestStaffPrincipalCarriesQueues(t *testing.T) {
	e := newEnv(t)
	f := e.clinic()
	all, ids, err := e.svc.QueueAccess(t.Context(), f.doctorInUser.ID)
	require.NoError(t, err)
	assert.False(t, all)
	assert.Equal(t, []string{f.queueID}, ids)
	// all_queues opens every queue to a doctor, from their next request.
	res := e.do(f.doctorOut, "POST", "/api/v1/invites", map[string]any{"first_name": "A", "last_name": "B",
		"email": "a@example.org", "queue_id": f.queueID})
	assert.Equal(t, 404, res.status, string(res.body))
	_, err = e.pool.Exec(t.Context(), `UPDATE users SET all_queues = true WHERE id = $1`, f.doctorOutUser.ID)
	require.NoError(t, err)
	res = e.do(f.doctorOut, "POST", "/api/v1/invites", map[string]any{"first_name": "A", "last_name": "B",
		"email": "a@example.org", "queue_id": f.queueID})
	assert.Equal(t, 201, res.status, string(res.body))
}

// TestInviteUpdatesAreLive: the creator's sockets hear invite.updated when
// an invite is sent and when it is revoked, so invite lists follow.
func TestInviteUpdatesAreLive(t *testing.T) {
	e := newEnv(t)
	e.live()
	f := e.clinic()
	ws := e.dial(f.doctorIn, doctorHost)
	inv, _ := e.invite(f.doctorIn, map[string]any{"queue_id": f.queueID, "delivery": "email"})
	require.Equal(t, "sent", inv.Invite.Status)
	d := waitMsg(t, ws, "invite.updated")
	assert.Equal(t, inv.Invite.ID, d["invite_id"])
	assert.NotEmpty(t, d["consultation_id"])

	res := e.do(f.doctorIn, "POST", "/api/v1/invites/"+inv.Invite.ID+"/revoke", nil)
	require.Equal(t, 200, res.status, string(res.body))
	assert.Equal(t, inv.Invite.ID, waitMsg(t, ws, "invite.updated")["invite_id"])
}
