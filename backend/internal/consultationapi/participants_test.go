package consultationapi_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/backend/internal/consultationapi"
)

// addParticipant invites a guest, interpreter or expert into consultation
// id as c and returns the invite with its token.
func (e *env) addParticipant(c *caller, id string, body map[string]any) (issued, string) {
	e.t.Helper()
	req := map[string]any{"first_name": "Grace", "last_name": "Hopper", "email": "grace@example.org"}
	for k, v := range body {
		req[k] = v
	}
	res := e.do(c, "POST", "/api/v1/consultations/"+id+"/invites", req)
	require.Equal(e.t, 201, res.status, string(res.body))
	var out issued
	res.json(e.t, &out)
	prefix := "https://" + patientHost + "/i/"
	require.True(e.t, strings.HasPrefix(out.Link, prefix), out.Link)
	return out, strings.TrimPrefix(out.Link, prefix)
}

// waitingConsultation is a consultation of f's queue whose patient has
// redeemed (pending), with the patient's session.
func (e *env) waitingConsultation(f fixture) (string, *caller) {
	e.t.Helper()
	inv, token := e.invite(f.admin, map[string]any{"queue_id": f.queueID})
	res, patient := e.redeem(token)
	require.Equal(e.t, 200, res.status, string(res.body))
	return inv.Invite.ConsultationID, patient
}

func (e *env) status(c *caller, id string) string {
	e.t.Helper()
	res := e.do(c, "GET", "/api/v1/consultations/"+id, nil)
	require.Equal(e.t, 200, res.status, string(res.body))
	var body struct{ Status string }
	res.json(e.t, &body)
	return body.Status
}

func TestGuestJoinsActiveConsultationAndChats(t *testing.T) {
	e := newEnv(t)
	f := e.clinic()
	id, patient := e.waitingConsultation(f)
	require.Equal(t, 200, e.do(f.doctorIn, "POST", "/api/v1/consultations/"+id+"/accept", nil).status)
	require.Equal(t, 204, e.do(f.doctorIn, "PUT", "/api/v1/consultations/"+id+"/note", map[string]string{"text": "SECRET-NOTE"}).status)

	inv, token := e.addParticipant(f.doctorIn, id, map[string]any{"role": "guest", "first_name": "Grace"})
	assert.Equal(t, "created", inv.Invite.Status)
	assert.Equal(t, "active", inv.Invite.ConsultationStatus)
	res, guest := e.redeem(token)
	require.Equal(t, 200, res.status, string(res.body))
	assert.Contains(t, string(res.body), `"role":"guest"`)
	assert.Equal(t, "active", e.status(f.doctorIn, id), "a guest's redemption changes nothing")

	res = e.doAt(patientHost, guest, "GET", "/api/v1/participant/me", nil)
	require.Equal(t, 200, res.status, string(res.body))
	assert.Contains(t, string(res.body), `"role":"guest"`)
	assert.Contains(t, string(res.body), `"consultation_status":"active"`)
	assert.NotContains(t, string(res.body), "SECRET-NOTE")

	// Doctor, patient and guest write; the guest reads all three in order.
	require.Equal(t, 200, e.do(f.doctorIn, "POST", "/api/v1/consultations/"+id+"/messages", map[string]string{"key": "d1", "text": "from the doctor"}).status)
	require.Equal(t, 200, e.doAt(patientHost, patient, "POST", "/api/v1/participant/consultations/"+id+"/messages", map[string]string{"key": "p1", "text": "from the patient"}).status)
	res = e.doAt(patientHost, guest, "POST", "/api/v1/participant/consultations/"+id+"/messages", map[string]string{"key": "g1", "text": "from the guest"})
	require.Equal(t, 200, res.status, string(res.body))
	res = e.doAt(patientHost, guest, "GET", "/api/v1/participant/consultations/"+id+"/messages", nil)
	require.Equal(t, 200, res.status, string(res.body))
	assert.NotContains(t, string(res.body), "SECRET-NOTE")
	var list struct {
		Messages []struct {
			Seq                 int64
			Text                string
			SenderParticipantID string `json:"sender_participant_id"`
		}
	}
	res.json(t, &list)
	require.Len(t, list.Messages, 3)
	for i, want := range []string{"from the doctor", "from the patient", "from the guest"} {
		assert.Equal(t, int64(i+1), list.Messages[i].Seq)
		assert.Equal(t, want, list.Messages[i].Text)
	}
	assert.Equal(t, inv.Invite.ParticipantID, list.Messages[2].SenderParticipantID)
	require.Equal(t, 204, e.doAt(patientHost, guest, "POST", "/api/v1/participant/consultations/"+id+"/messages/read", map[string]int{"seq": 3}).status)

	// The doctor lists the participants, patient first (audited).
	res = e.do(f.doctorIn, "GET", "/api/v1/consultations/"+id+"/participants", nil)
	require.Equal(t, 200, res.status, string(res.body))
	var parts struct {
		Participants []struct {
			ParticipantID string `json:"participant_id"`
			Role          string
			DisplayName   string `json:"display_name"`
			Online        bool
			InviteStatus  string `json:"invite_status"`
		}
	}
	res.json(t, &parts)
	require.Len(t, parts.Participants, 2)
	assert.Equal(t, "patient", parts.Participants[0].Role)
	assert.Equal(t, "Ada Lovelace", parts.Participants[0].DisplayName)
	assert.Equal(t, "guest", parts.Participants[1].Role)
	assert.Equal(t, "Grace Hopper", parts.Participants[1].DisplayName)
	assert.Equal(t, "redeemed", parts.Participants[1].InviteStatus)
	assert.False(t, parts.Participants[1].Online, "no socket open")
	var audited int
	require.NoError(t, e.pool.QueryRow(t.Context(), `SELECT count(*) FROM audit_events WHERE action = 'consultation.participants_read'
		AND outcome = 'success' AND object_id = $1`, id).Scan(&audited))
	assert.Equal(t, 1, audited)
	// Nobody else lists them.
	assert.Equal(t, 404, e.do(f.doctorOut, "GET", "/api/v1/consultations/"+id+"/participants", nil).status)
	assert.Equal(t, 403, e.do(f.nurse, "GET", "/api/v1/consultations/"+id+"/participants", nil).status)
	assert.Equal(t, 403, e.doAt(patientHost, guest, "GET", "/api/v1/consultations/"+id+"/participants", nil).status)

	// Closing ends the guest's session too, and their link.
	require.Equal(t, 200, e.do(f.doctorIn, "POST", "/api/v1/consultations/"+id+"/close", nil).status)
	assert.Equal(t, 401, e.doAt(patientHost, guest, "GET", "/api/v1/participant/me", nil).status, "closing ends the guest's session")
	res, _ = e.redeem(token)
	assert.Equal(t, 410, res.status)
	assert.Equal(t, consultationapi.CodeConsultationClosed, res.code())
	// Nor can anyone be added to a closed consultation.
	res = e.do(f.doctorIn, "POST", "/api/v1/consultations/"+id+"/invites", map[string]any{"role": "expert",
		"first_name": "A", "last_name": "B", "email": "a@example.org"})
	assert.Equal(t, 410, res.status, string(res.body))
}

func TestExpertCannotReadAnotherConsultation(t *testing.T) {
	e := newEnv(t)
	f := e.clinic()
	a, _ := e.waitingConsultation(f)
	b, _ := e.waitingConsultation(f)
	_, token := e.addParticipant(f.doctorIn, a, map[string]any{"role": "expert"})
	res, expert := e.redeem(token)
	require.Equal(t, 200, res.status, string(res.body))
	assert.Contains(t, string(res.body), `"role":"expert"`)

	assert.Equal(t, 200, e.doAt(patientHost, expert, "GET", "/api/v1/participant/consultations/"+a, nil).status)
	for _, path := range []string{"/api/v1/participant/consultations/" + b, "/api/v1/participant/consultations/" + b + "/messages"} {
		res = e.doAt(patientHost, expert, "GET", path, nil)
		assert.Equal(t, 404, res.status, path)
	}
	res = e.doAt(patientHost, expert, "POST", "/api/v1/participant/consultations/"+b+"/messages", map[string]string{"key": "k", "text": "hi"})
	assert.Equal(t, 404, res.status)
	var denied int
	require.NoError(t, e.pool.QueryRow(t.Context(), `SELECT count(*) FROM audit_events WHERE action = 'consultation.read' AND outcome = 'denied' AND object_id = $1`,
		b).Scan(&denied))
	assert.Equal(t, 1, denied, "the attempt is audited")
	// Staff routes refuse them.
	assert.Equal(t, 403, e.doAt(patientHost, expert, "GET", "/api/v1/consultations/"+a, nil).status)
}

func TestGuestRedemptionKeepsTheStatus(t *testing.T) {
	e := newEnv(t)
	f := e.clinic()

	t.Run("pending", func(t *testing.T) {
		id, _ := e.waitingConsultation(f)
		var before string
		require.NoError(t, e.pool.QueryRow(t.Context(), `SELECT pending_at::text FROM consultations WHERE id = $1`, id).Scan(&before))
		_, token := e.addParticipant(f.doctorIn, id, map[string]any{"role": "interpreter"})
		res, interp := e.redeem(token)
		require.Equal(t, 200, res.status, string(res.body))
		assert.Equal(t, "pending", e.status(f.doctorIn, id))
		var after string
		require.NoError(t, e.pool.QueryRow(t.Context(), `SELECT pending_at::text FROM consultations WHERE id = $1`, id).Scan(&after))
		assert.Equal(t, before, after, "the patient's waiting time stands")
		res = e.doAt(patientHost, interp, "GET", "/api/v1/participant/me", nil)
		assert.Contains(t, string(res.body), `"role":"interpreter"`)
		assert.Contains(t, string(res.body), `"consultation_status":"pending"`)
	})

	t.Run("invited", func(t *testing.T) {
		inv, patientToken := e.invite(f.admin, map[string]any{"queue_id": f.queueID})
		id := inv.Invite.ConsultationID
		_, token := e.addParticipant(f.doctorIn, id, map[string]any{"role": "guest"})
		res, _ := e.redeem(token)
		require.Equal(t, 200, res.status, string(res.body))
		assert.Equal(t, "invited", e.status(f.doctorIn, id), "only the patient's redemption makes it wait")
		res = e.do(f.doctorIn, "GET", "/api/v1/queues/"+f.queueID+"/consultations", nil)
		assert.NotContains(t, string(res.body), id)
		res, _ = e.redeem(patientToken)
		require.Equal(t, 200, res.status)
		assert.Equal(t, "pending", e.status(f.doctorIn, id))
	})
}

func TestAddParticipantAuthorisation(t *testing.T) {
	e := newEnv(t)
	f := e.clinic()
	id, _ := e.waitingConsultation(f)
	body := map[string]any{"role": "guest", "first_name": "A", "last_name": "B", "email": "a@example.org"}
	res := e.do(f.doctorOut, "POST", "/api/v1/consultations/"+id+"/invites", body)
	assert.Equal(t, 404, res.status, "a doctor outside the consultation: %s", res.body)
	assert.Equal(t, 403, e.do(f.nurse, "POST", "/api/v1/consultations/"+id+"/invites", body).status)
	assert.Equal(t, 403, e.do(f.admin, "POST", "/api/v1/consultations/"+id+"/invites", body).status)
	assert.Equal(t, 401, e.do(&caller{}, "POST", "/api/v1/consultations/"+id+"/invites", body).status)
	var n int
	require.NoError(t, e.pool.QueryRow(t.Context(), `SELECT count(*) FROM participants WHERE consultation_id = $1`, id).Scan(&n))
	assert.Equal(t, 1, n, "nothing was added")

	// Once another doctor's, the queue's doctors no longer add anyone.
	_, err := e.pool.Exec(t.Context(), `UPDATE users SET all_queues = true WHERE id = $1`, f.doctorOutUser.ID)
	require.NoError(t, err)
	require.Equal(t, 200, e.do(f.doctorOut, "POST", "/api/v1/consultations/"+id+"/accept", nil).status)
	res = e.do(f.doctorIn, "POST", "/api/v1/consultations/"+id+"/invites", body)
	assert.Equal(t, 404, res.status, string(res.body))
	e.addParticipant(f.doctorOut, id, map[string]any{"role": "expert"})
}

func TestAddParticipantValidationNamesTheField(t *testing.T) {
	e := newEnv(t)
	f := e.clinic()
	id, _ := e.waitingConsultation(f)
	for field, body := range map[string]map[string]any{
		"role":       {"role": "patient"},
		"first_name": {"first_name": ""},
		"last_name":  {"last_name": strings.Repeat("x", 101)},
		"email":      {"email": "not an address"},
		"phone":      {"phone": "+999 123"},
		"language":   {"language": "French!"},
		"delivery":   {"delivery": "pigeon"},
	} {
		t.Run(field, func(t *testing.T) {
			req := map[string]any{"role": "guest", "first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.org"}
			for k, v := range body {
				req[k] = v
			}
			res := e.do(f.doctorIn, "POST", "/api/v1/consultations/"+id+"/invites", req)
			assert.Equal(t, 400, res.status, string(res.body))
			assert.Contains(t, string(res.body), `"field":"`+field+`"`)
		})
	}
	t.Run("email for delivery by email", func(t *testing.T) {
		res := e.do(f.doctorIn, "POST", "/api/v1/consultations/"+id+"/invites", map[string]any{"role": "guest",
			"first_name": "Ada", "last_name": "L", "phone": "+41791234567", "delivery": "email"})
		assert.Equal(t, 400, res.status, string(res.body))
		assert.Contains(t, string(res.body), `"field":"email"`)
	})
}

func TestParticipantInviteRevokeAndMail(t *testing.T) {
	e := newEnv(t)
	f := e.clinic()
	id, _ := e.waitingConsultation(f)
	require.Equal(t, 200, e.do(f.doctorIn, "POST", "/api/v1/consultations/"+id+"/accept", nil).status)

	inv, token := e.addParticipant(f.doctorIn, id, map[string]any{"role": "interpreter", "language": "fr-CH",
		"delivery": "email", "first_name": "Amélie"})
	assert.Equal(t, "sent", inv.Invite.Status)
	msgs := e.mail.all()
	require.Len(t, msgs, 1)
	assert.Equal(t, []string{"grace@example.org"}, msgs[0].To)
	assert.Equal(t, "fr", msgs[0].Language)
	assert.Contains(t, msgs[0].Text, "Bonjour Amélie")
	assert.Contains(t, msgs[0].Text, "en tant qu'interprète")
	assert.Contains(t, msgs[0].Text, "https://"+patientHost+"/i/"+token)
	e.addParticipant(f.doctorIn, id, map[string]any{"role": "expert", "delivery": "email"})
	msgs = e.mail.all()
	require.Len(t, msgs, 2)
	assert.Contains(t, msgs[1].Text, "as an expert")

	// The doctor reads it among their invites; revoking ends the session.
	res, interp := e.redeem(token)
	require.Equal(t, 200, res.status, string(res.body))
	res = e.do(f.doctorIn, "GET", "/api/v1/invites/"+inv.Invite.ID, nil)
	require.Equal(t, 200, res.status, string(res.body))
	assert.Contains(t, string(res.body), `"role":"interpreter"`)
	res = e.do(f.doctorIn, "POST", "/api/v1/invites/"+inv.Invite.ID+"/revoke", nil)
	require.Equal(t, 200, res.status, string(res.body))
	assert.Contains(t, string(res.body), `"status":"revoked"`)
	assert.Equal(t, 401, e.doAt(patientHost, interp, "GET", "/api/v1/participant/me", nil).status, "revoking ends the session")
	res, _ = e.redeem(token)
	assert.Equal(t, 410, res.status)
	assert.Equal(t, consultationapi.CodeInviteRevoked, res.code())
	var audited int
	require.NoError(t, e.pool.QueryRow(t.Context(), `SELECT count(*) FROM audit_events WHERE action IN ('invite.created', 'invite.revoked')
		AND object_id = $1`, inv.Invite.ID).Scan(&audited))
	assert.Equal(t, 2, audited)
	// The patient is untouched.
	assert.Equal(t, "active", e.status(f.doctorIn, id))
}

// TestRevokeClosesTheParticipantsSocket: revoking a guest's invite closes
// the guest's open socket with 1008 after participant.revoked; the
// patient's socket stays open and the queue's doctor hears the event.
func TestRevokeClosesTheParticipantsSocket(t *testing.T) {
	e := newEnv(t)
	e.live()
	f := e.clinic()
	id, patient := e.waitingConsultation(f)
	require.Equal(t, 200, e.do(f.doctorIn, "POST", "/api/v1/consultations/"+id+"/accept", nil).status)
	inv, token := e.addParticipant(f.doctorIn, id, map[string]any{"role": "guest"})
	res, guest := e.redeem(token)
	require.Equal(t, 200, res.status, string(res.body))
	doctorWS := e.dial(f.doctorIn, doctorHost)
	patientWS := e.dial(patient, patientHost)
	guestWS := e.dial(guest, patientHost)

	res = e.do(f.doctorIn, "POST", "/api/v1/invites/"+inv.Invite.ID+"/revoke", nil)
	require.Equal(t, 200, res.status, string(res.body))
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	for {
		_, _, err := guestWS.Read(ctx)
		if err != nil {
			assert.Equal(t, websocket.StatusPolicyViolation, websocket.CloseStatus(err), "the guest's socket closes with 1008")
			break
		}
	}
	d := waitMsg(t, doctorWS, "participant.revoked")
	assert.Equal(t, id, d["consultation_id"])
	assert.Equal(t, inv.Invite.ParticipantID, d["participant_id"])

	d = waitMsg(t, patientWS, "participant.revoked")
	assert.Equal(t, inv.Invite.ParticipantID, d["participant_id"])
	sendWS(t, patientWS, map[string]string{"type": "ping", "id": "still-here"})
	assert.Equal(t, "still-here", waitEnvelope(t, patientWS, "pong")["id"], "the patient stays connected")
	assert.Equal(t, 401, e.doAt(patientHost, guest, "GET", "/api/v1/participant/me", nil).status)
	res = e.doAt(patientHost, patient, "GET", "/api/v1/participant/me", nil)
	assert.Equal(t, 200, res.status, string(res.body))
}
