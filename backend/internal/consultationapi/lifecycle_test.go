package consultationapi_test

import (
	"context"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/backend/internal/account"
	"github.com/hcw-home/hcw/backend/internal/authz"
	"github.com/hcw-home/hcw/backend/internal/consultation"
	"github.com/hcw-home/hcw/backend/internal/consultationapi"
)

type consultationView struct {
	ID, Status       string
	QueueID          string     `json:"queue_id"`
	DoctorID         string     `json:"doctor_id"`
	CloseReason      string     `json:"close_reason"`
	WaitingSince     *time.Time `json:"waiting_since"`
	EstimatedStartAt *time.Time `json:"estimated_start_at"`
	Note             string
	Patient          *struct {
		ParticipantID string `json:"participant_id"`
		FirstName     string `json:"first_name"`
		LastName      string `json:"last_name"`
		Online        bool
	}
}

type consultationList struct {
	Consultations []consultationView
	Next          string
}

// waiting invites a patient named last into queueID as the admin and
// redeems the link: the consultation is pending.
func (e *env) waiting(f fixture, queueID, last string) (consultationID string, patient *caller) {
	e.t.Helper()
	inv, token := e.invite(f.admin, map[string]any{"queue_id": queueID, "last_name": last})
	res, patient := e.redeem(token)
	require.Equal(e.t, 200, res.status, string(res.body))
	return inv.Invite.ConsultationID, patient
}

func (e *env) list(c *caller, queueID string) (response, consultationList) {
	e.t.Helper()
	res := e.do(c, "GET", "/api/v1/queues/"+queueID+"/consultations", nil)
	var l consultationList
	if res.status == 200 {
		res.json(e.t, &l)
	}
	return res, l
}

// addMember makes u a member of queueID besides its current members.
func (e *env) addMember(f fixture, queueID string, u account.User) {
	e.t.Helper()
	var q struct {
		MemberIDs []string `json:"member_ids"`
	}
	res := e.do(f.admin, "GET", "/api/v1/admin/queues/"+queueID, nil)
	require.Equal(e.t, 200, res.status)
	res.json(e.t, &q)
	res = e.do(f.admin, "PUT", "/api/v1/admin/queues/"+queueID+"/members", map[string]any{"user_ids": append(q.MemberIDs, u.ID)})
	require.Equal(e.t, 200, res.status, string(res.body))
}

func (e *env) auditCount(action, consultationID string) int {
	e.t.Helper()
	var n int
	require.NoError(e.t, e.pool.QueryRow(context.Background(),
		`SELECT count(*) FROM audit_events WHERE action = $1 AND consultation_id = $2`, action, consultationID).Scan(&n))
	return n
}

// TestConcurrentAcceptFirstWins: two doctors of the queue accept at once,
// several times over: exactly one 200 and one 409 already_accepted each
// time. A doctor outside the queue gets 404 on the list and on accept; a
// nurse may list but not accept.
func TestConcurrentAcceptFirstWins(t *testing.T) {
	e := newEnv(t)
	f := e.clinic()
	second := e.user(account.RoleDoctor, "doctor.two@example.org")
	e.addMember(f, f.queueID, second)
	doctorTwo := e.signIn(second)

	for i := range 5 {
		id, _ := e.waiting(f, f.queueID, "Patient")
		if i == 0 {
			res, _ := e.list(f.doctorOut, f.queueID)
			assert.Equal(t, 404, res.status, "doctor outside the queue: list")
			assert.Equal(t, 404, e.do(f.doctorOut, "POST", "/api/v1/consultations/"+id+"/accept", nil).status, "outside: accept")
			assert.Equal(t, 403, e.do(f.nurse, "POST", "/api/v1/consultations/"+id+"/accept", nil).status, "nurse: accept")
			res, l := e.list(f.nurse, f.queueID)
			require.Equal(t, 200, res.status)
			assert.Len(t, l.Consultations, 1)
		}
		var wg sync.WaitGroup
		results := make([]response, 2)
		for j, c := range []*caller{f.doctorIn, doctorTwo} {
			wg.Go(func() { results[j] = e.do(c, "POST", "/api/v1/consultations/"+id+"/accept", nil) })
		}
		wg.Wait()
		statuses := []int{results[0].status, results[1].status}
		sort.Ints(statuses)
		require.Equal(t, []int{200, 409}, statuses, "%s / %s", results[0].body, results[1].body)
		for _, r := range results {
			if r.status == 409 {
				assert.Equal(t, consultationapi.CodeAlreadyAccepted, r.code())
			} else {
				var c consultationView
				r.json(t, &c)
				assert.Equal(t, "active", c.Status)
				assert.Nil(t, c.Patient, "no patient data outside audited reads")
			}
		}
		assert.Equal(t, 1, e.auditCount(consultation.ActionConsultationAccepted, id))
	}
	_, l := e.list(f.doctorIn, f.queueID)
	assert.Empty(t, l.Consultations, "accepted ones leave the list")
}

// TestWaitingListPositionsAndAudit: the list is in waiting order with
// names, each read is audited; each patient sees their place, which moves
// up when the first is accepted.
func TestWaitingListPositionsAndAudit(t *testing.T) {
	e := newEnv(t)
	f := e.clinic()
	start := e.clock.now()
	var ids []string
	var patients []*caller
	for i, name := range []string{"First", "Second", "Third"} {
		e.clock.set(start.Add(time.Duration(i) * time.Minute))
		id, p := e.waiting(f, f.queueID, name)
		ids, patients = append(ids, id), append(patients, p)
	}
	res, l := e.list(f.doctorIn, f.queueID)
	require.Equal(t, 200, res.status, string(res.body))
	require.Len(t, l.Consultations, 3)
	for i, name := range []string{"First", "Second", "Third"} {
		c := l.Consultations[i]
		assert.Equal(t, ids[i], c.ID)
		require.NotNil(t, c.Patient)
		assert.Equal(t, "Ada", c.Patient.FirstName)
		assert.Equal(t, name, c.Patient.LastName)
		assert.False(t, c.Patient.Online)
		require.NotNil(t, c.WaitingSince)
		assert.Equal(t, 1, e.auditCount(consultation.ActionQueueRead, ids[i]))
	}
	position := func(p *caller) int {
		var pos struct {
			Position int
			Status   string `json:"consultation_status"`
		}
		res := e.doAt(patientHost, p, "GET", "/api/v1/participant/queue-position", nil)
		require.Equal(t, 200, res.status, string(res.body))
		res.json(t, &pos)
		return pos.Position
	}
	for i, p := range patients {
		assert.Equal(t, i+1, position(p))
	}
	require.Equal(t, 200, e.do(f.doctorIn, "POST", "/api/v1/consultations/"+ids[0]+"/accept", nil).status)
	assert.Equal(t, 0, position(patients[0]), "no longer waiting")
	assert.Equal(t, 1, position(patients[1]))
	assert.Equal(t, 2, position(patients[2]))

	// The detail read is audited too, and a doctor elsewhere gets 404
	// (audited as denied).
	res = e.do(f.doctorIn, "GET", "/api/v1/consultations/"+ids[1], nil)
	require.Equal(t, 200, res.status)
	assert.Equal(t, 1, e.auditCount(consultation.ActionConsultationRead, ids[1]))
	assert.Equal(t, 404, e.do(f.doctorOut, "GET", "/api/v1/consultations/"+ids[1], nil).status)
	// A patient asking for another consultation: 404; staff routes: 403.
	assert.Equal(t, 404, e.doAt(patientHost, patients[0], "GET", "/api/v1/participant/consultations/"+ids[1], nil).status)
	assert.Equal(t, 403, e.doAt(patientHost, patients[0], "GET", "/api/v1/consultations/"+ids[1], nil).status)
}

// TestCloseEndsSessionsSocketsAndInvites: closing revokes the patient's
// session (participant/me is 401 afterwards), closes their socket with
// 1008 after the consultation.closed event, revokes the invite not yet
// redeemed and writes a statistics row without names or ids.
func TestCloseEndsSessionsSocketsAndInvites(t *testing.T) {
	e := newEnv(t)
	e.live()
	f := e.clinic()
	inv, token := e.invite(f.admin, map[string]any{"queue_id": f.queueID, "first_name": "Grace", "last_name": "Hopper"})
	res, patient := e.redeem(token)
	require.Equal(t, 200, res.status)
	id := inv.Invite.ConsultationID
	doctorWS := e.dial(f.doctorIn, doctorHost)
	patientWS := e.dial(patient, patientHost)
	// A second link for the same patient, never used.
	res = e.do(f.admin, "POST", "/api/v1/invites/"+inv.Invite.ID+"/resend", nil)
	require.Equal(t, 201, res.status, string(res.body))
	var resent issued
	res.json(t, &resent)

	// Only its doctor closes, and only once active.
	assert.Equal(t, 409, e.do(f.doctorIn, "POST", "/api/v1/consultations/"+id+"/close", nil).status)
	require.Equal(t, 200, e.do(f.doctorIn, "POST", "/api/v1/consultations/"+id+"/accept", nil).status)
	assert.Equal(t, id, waitMsg(t, patientWS, "consultation.accepted")["consultation_id"], "a doctor has joined")
	assert.Equal(t, 404, e.do(f.doctorOut, "POST", "/api/v1/consultations/"+id+"/close", nil).status)

	require.Equal(t, 200, e.do(f.doctorIn, "POST", "/api/v1/consultations/"+id+"/close", nil).status)
	assert.Equal(t, "completed", waitMsg(t, patientWS, "consultation.closed")["reason"])
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	for {
		_, _, err := patientWS.Read(ctx)
		if err != nil {
			assert.Equal(t, websocket.StatusPolicyViolation, websocket.CloseStatus(err))
			break
		}
	}
	assert.Equal(t, id, waitMsg(t, doctorWS, "consultation.closed")["consultation_id"], "the queue's doctors hear it too")

	assert.Equal(t, 401, e.doAt(patientHost, patient, "GET", "/api/v1/participant/me", nil).status)
	var revoked int
	require.NoError(t, e.pool.QueryRow(t.Context(),
		`SELECT count(*) FROM participant_sessions WHERE consultation_id = $1 AND revoked_at IS NULL`, id).Scan(&revoked))
	assert.Zero(t, revoked, "every session revoked in the database")
	res = e.do(f.admin, "GET", "/api/v1/invites/"+resent.Invite.ID, nil)
	assert.Contains(t, string(res.body), `"status":"revoked"`)
	res, _ = e.redeem(strings.TrimPrefix(resent.Link, "https://"+patientHost+"/i/"))
	assert.NotEqual(t, 200, res.status)

	var row string
	var participants int
	var waited, duration *int
	require.NoError(t, e.pool.QueryRow(t.Context(),
		`SELECT s::text, participant_count, waited_seconds, duration_seconds FROM consultation_stats s`).Scan(&row, &participants, &waited, &duration))
	assert.Equal(t, 1, participants)
	assert.NotNil(t, waited)
	assert.NotNil(t, duration)
	assert.Contains(t, row, f.queueID)
	for _, secret := range []string{"Grace", "Hopper", id, inv.Invite.ParticipantID, f.doctorInUser.ID} {
		assert.NotContains(t, row, secret)
	}
	assert.Equal(t, 410, e.do(f.doctorIn, "POST", "/api/v1/consultations/"+id+"/close", nil).status)
}

// TestPresenceAndEstimate: the queue's doctor sees the patient come
// online and go offline live and in the list; the patient hears the
// estimate and the accept. Presence counts another replica's sockets
// until its rows go stale.
func TestPresenceAndEstimate(t *testing.T) {
	e := newEnv(t)
	e.live()
	f := e.clinic()
	id, patient := e.waiting(f, f.queueID, "Online")
	doctorWS := e.dial(f.doctorIn, doctorHost)
	outsideWS := e.dial(f.doctorOut, doctorHost)

	patientWS := e.dial(patient, patientHost)
	d := waitMsg(t, doctorWS, "participant.presence")
	assert.Equal(t, true, d["online"])
	assert.Equal(t, id, d["consultation_id"])
	_, l := e.list(f.doctorIn, f.queueID)
	require.Len(t, l.Consultations, 1)
	assert.True(t, l.Consultations[0].Patient.Online)

	// The queue shows estimates to patients (TestEstimateHidden: when not).
	res := e.do(f.admin, "PATCH", "/api/v1/admin/queues/"+f.queueID, map[string]any{"show_estimated_time": true})
	require.Equal(t, 200, res.status, string(res.body))
	res = e.do(f.doctorIn, "POST", "/api/v1/consultations/"+id+"/estimate", map[string]int{"minutes": 15})
	require.Equal(t, 200, res.status, string(res.body))
	start, err := time.Parse(time.RFC3339Nano, waitMsg(t, patientWS, "consultation.estimate")["start_at"].(string))
	require.NoError(t, err)
	assert.WithinDuration(t, e.clock.now().Add(15*time.Minute), start, time.Second)
	assert.Equal(t, 400, e.do(f.doctorIn, "POST", "/api/v1/consultations/"+id+"/estimate", map[string]int{"minutes": 241}).status)
	var pos struct {
		Position         int
		EstimatedStartAt *time.Time `json:"estimated_start_at"`
	}
	res = e.doAt(patientHost, patient, "GET", "/api/v1/participant/queue-position", nil)
	res.json(t, &pos)
	assert.Equal(t, 1, pos.Position)
	require.NotNil(t, pos.EstimatedStartAt)

	require.NoError(t, patientWS.Close(websocket.StatusNormalClosure, ""))
	d = waitMsg(t, doctorWS, "participant.presence")
	assert.Equal(t, false, d["online"])
	_, l = e.list(f.doctorIn, f.queueID)
	assert.False(t, l.Consultations[0].Patient.Online)

	// Another replica holds a socket: online until its rows go stale, then
	// a heartbeat sweeps them and announces it.
	p := authz.Principal{Kind: "participant", ID: l.Consultations[0].Patient.ParticipantID, Role: authz.RolePatient, ConsultationID: id}
	require.NoError(t, e.svc.SetPresence(t.Context(), "r-other", p, 1))
	assert.Equal(t, true, waitMsg(t, doctorWS, "participant.presence")["online"])
	_, l = e.list(f.doctorIn, f.queueID)
	assert.True(t, l.Consultations[0].Patient.Online)
	e.clock.set(e.clock.now().Add(consultation.PresenceTTL + time.Second))
	_, l = e.list(f.doctorIn, f.queueID)
	assert.False(t, l.Consultations[0].Patient.Online, "stale rows do not count")
	require.NoError(t, e.svc.PresenceHeartbeat(t.Context(), replicaID))
	assert.Equal(t, false, waitMsg(t, doctorWS, "participant.presence")["online"])

	// The doctor outside the queue heard none of it.
	send := func(ws *websocket.Conn) {
		require.NoError(t, ws.Write(t.Context(), websocket.MessageText, []byte(`{"type":"ping","id":"x"}`)))
	}
	send(outsideWS)
	assert.Equal(t, "pong", readMsg(t, outsideWS)["type"])
}

// TestNoteIsSealedAndPrivate: the note is absent from the raw row, shown
// to staff, never to the participant.
func TestNoteIsSealedAndPrivate(t *testing.T) {
	e := newEnv(t)
	f := e.clinic()
	id, patient := e.waiting(f, f.queueID, "Noted")
	const note = "suspected measles; ask about vaccination"
	assert.Equal(t, 400, e.do(f.doctorIn, "PUT", "/api/v1/consultations/"+id+"/note", map[string]string{"text": strings.Repeat("x", 10001)}).status)
	assert.Equal(t, 404, e.do(f.doctorOut, "PUT", "/api/v1/consultations/"+id+"/note", map[string]string{"text": note}).status)
	require.Equal(t, 204, e.do(f.doctorIn, "PUT", "/api/v1/consultations/"+id+"/note", map[string]string{"text": note}).status)

	var raw string
	require.NoError(t, e.pool.QueryRow(t.Context(), `SELECT c::text FROM consultations c WHERE id = $1`, id).Scan(&raw))
	assert.NotContains(t, raw, "measles")
	var c consultationView
	res := e.do(f.doctorIn, "GET", "/api/v1/consultations/"+id, nil)
	require.Equal(t, 200, res.status)
	res.json(t, &c)
	assert.Equal(t, note, c.Note)
	for _, path := range []string{"/api/v1/participant/me", "/api/v1/participant/consultations/" + id, "/api/v1/participant/queue-position"} {
		res := e.doAt(patientHost, patient, "GET", path, nil)
		require.Equal(t, 200, res.status, path)
		assert.NotContains(t, string(res.body), "measles", path)
	}
	assert.Equal(t, 403, e.doAt(patientHost, patient, "GET", "/api/v1/consultations/"+id, nil).status)
}

// TestHistoryTransferCancel: a doctor's closed consultations, newest
// first and paginated; a transfer moves a waiting patient to another
// queue's list; a cancel closes it with reason cancelled.
func TestHistoryTransferCancel(t *testing.T) {
	e := newEnv(t)
	f := e.clinic()
	start := e.clock.now()
	var closed []string
	for i := range 3 {
		e.clock.set(start.Add(time.Duration(i) * time.Minute))
		id, _ := e.waiting(f, f.queueID, "History")
		require.Equal(t, 200, e.do(f.doctorIn, "POST", "/api/v1/consultations/"+id+"/accept", nil).status)
		require.Equal(t, 200, e.do(f.doctorIn, "POST", "/api/v1/consultations/"+id+"/close", nil).status)
		closed = append(closed, id)
	}
	var page consultationList
	res := e.do(f.doctorIn, "GET", "/api/v1/consultations?status=closed&limit=2", nil)
	require.Equal(t, 200, res.status, string(res.body))
	res.json(t, &page)
	require.Len(t, page.Consultations, 2)
	assert.Equal(t, closed[2], page.Consultations[0].ID)
	assert.Equal(t, "completed", page.Consultations[0].CloseReason)
	require.NotEmpty(t, page.Next)
	res = e.do(f.doctorIn, "GET", "/api/v1/consultations?status=closed&limit=2&cursor="+page.Next, nil)
	res.json(t, &page)
	require.Len(t, page.Consultations, 1)
	assert.Equal(t, closed[0], page.Consultations[0].ID)
	res = e.do(f.doctorOut, "GET", "/api/v1/consultations?status=closed", nil)
	res.json(t, &page)
	assert.Empty(t, page.Consultations, "only one's own")
	assert.Equal(t, 400, e.do(f.doctorIn, "GET", "/api/v1/consultations?status=bogus", nil).status)

	id, _ := e.waiting(f, f.queueID, "Moved")
	assert.Equal(t, 400, e.do(f.doctorIn, "POST", "/api/v1/consultations/"+id+"/transfer", map[string]string{}).status)
	res = e.do(f.doctorIn, "POST", "/api/v1/consultations/"+id+"/transfer", map[string]string{"queue_id": f.otherQueueID})
	require.Equal(t, 200, res.status, string(res.body))
	assert.Equal(t, 1, e.auditCount(consultation.ActionConsultationTransferred, id))
	_, l := e.list(f.doctorOut, f.otherQueueID)
	require.Len(t, l.Consultations, 1)
	assert.Equal(t, id, l.Consultations[0].ID)
	assert.Equal(t, 404, e.do(f.doctorIn, "POST", "/api/v1/consultations/"+id+"/cancel", nil).status, "no longer in its queue")
	res = e.do(f.doctorOut, "POST", "/api/v1/consultations/"+id+"/cancel", nil)
	require.Equal(t, 200, res.status, string(res.body))
	var c consultationView
	res.json(t, &c)
	assert.Equal(t, "closed", c.Status)
	assert.Equal(t, "cancelled", c.CloseReason)
	var reasons []string
	rows, err := e.pool.Query(t.Context(), `SELECT close_reason FROM consultation_stats ORDER BY closed_at`)
	require.NoError(t, err)
	for rows.Next() {
		var r string
		require.NoError(t, rows.Scan(&r))
		reasons = append(reasons, r)
	}
	require.NoError(t, rows.Err())
	assert.Equal(t, []string{"completed", "completed", "completed", "cancelled"}, reasons)
}
