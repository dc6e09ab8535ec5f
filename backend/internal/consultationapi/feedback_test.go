package consultationapi_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/backend/internal/consultation"
	"github.com/hcw-home/hcw/backend/internal/consultationapi"
)

type participationView struct {
	AskFeedback   bool       `json:"ask_feedback"`
	FeedbackToken string     `json:"feedback_token"`
	Language      string     `json:"language"`
	TimeZone      string     `json:"time_zone"`
	ScheduledAt   *time.Time `json:"scheduled_at"`
}

func (e *env) participation(c *caller) (response, participationView) {
	e.t.Helper()
	res := e.doAt(patientHost, c, "GET", "/api/v1/participant/me", nil)
	var v participationView
	if res.status == 200 {
		res.json(e.t, &v)
	}
	return res, v
}

func (e *env) feedback(id, token, rating, comment string) response {
	e.t.Helper()
	return e.doAt(patientHost, &caller{}, "POST", "/api/v1/participant/consultations/"+id+"/feedback",
		map[string]string{"token": token, "rating": rating, "comment": comment})
}

// TestFeedback: a queue that asks for feedback gives each participant a
// feedback token with their reads; after the close (their session gone)
// the last token rates the consultation once: the rating is counted in
// the anonymous statistics row, the sealed comment shown to the doctor in
// the history. Earlier, used and late tokens are refused.
func TestFeedback(t *testing.T) {
	e := newEnv(t)
	f := e.clinic()
	res := e.do(f.admin, "PATCH", "/api/v1/admin/queues/"+f.queueID, map[string]any{"ask_feedback": true})
	require.Equal(t, 200, res.status, string(res.body))

	at := e.clock.now().Add(5 * time.Minute)
	inv, token := e.invite(f.admin, map[string]any{"queue_id": f.queueID, "language": "fr",
		"scheduled_at": at, "time_zone": "Europe/Zurich"})
	id := inv.Invite.ConsultationID
	res, patient := e.redeem(token)
	require.Equal(t, 200, res.status, string(res.body))
	var red participationView
	res.json(t, &red)
	assert.True(t, red.AskFeedback)
	assert.Equal(t, "fr", red.Language)
	assert.Equal(t, "Europe/Zurich", red.TimeZone)
	require.NotNil(t, red.ScheduledAt)
	assert.WithinDuration(t, at, *red.ScheduledAt, time.Millisecond)
	assert.Empty(t, red.FeedbackToken, "tokens come with reads only")

	_, first := e.participation(patient)
	assert.True(t, first.AskFeedback)
	assert.Equal(t, "fr", first.Language)
	assert.Equal(t, "Europe/Zurich", first.TimeZone)
	require.Len(t, first.FeedbackToken, consultation.TokenLen)
	_, last := e.participation(patient)
	require.NotEqual(t, first.FeedbackToken, last.FeedbackToken, "each read replaces the token")

	// Not before the close.
	res = e.feedback(id, last.FeedbackToken, "good", "")
	assert.Equal(t, 409, res.status)
	assert.Equal(t, consultationapi.CodeInvalidState, res.code())

	_, guestToken := e.addParticipant(f.doctorIn, id, map[string]any{"role": "guest"})
	res, guest := e.redeem(guestToken)
	require.Equal(t, 200, res.status)
	_, guestView := e.participation(guest)
	require.NotEmpty(t, guestView.FeedbackToken)

	require.Equal(t, 200, e.do(f.doctorIn, "POST", "/api/v1/consultations/"+id+"/accept", nil).status)
	require.Equal(t, 200, e.do(f.doctorIn, "POST", "/api/v1/consultations/"+id+"/close", nil).status)
	res, _ = e.participation(patient)
	assert.Equal(t, 401, res.status, "the session ended with the consultation")

	for _, tc := range []struct {
		name, token, rating, comment string
		status                       int
		code                         string
	}{
		{"replaced token", first.FeedbackToken, "good", "", 404, consultationapi.CodeFeedbackInvalid},
		{"unknown token", strings.Repeat("A", consultation.TokenLen), "good", "", 404, consultationapi.CodeFeedbackInvalid},
		{"bad rating", last.FeedbackToken, "great", "", 400, "invalid_request"},
		{"long comment", last.FeedbackToken, "ok", strings.Repeat("é", 2001), 400, "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := e.feedback(id, tc.token, tc.rating, tc.comment)
			assert.Equal(t, tc.status, res.status, string(res.body))
			assert.Equal(t, tc.code, res.code())
		})
	}
	// Another consultation's id with a valid token is no better.
	other, _ := e.waitingConsultation(f)
	assert.Equal(t, 404, e.feedback(other, last.FeedbackToken, "good", "").status)

	res = e.feedback(id, last.FeedbackToken, "bad", "Cold hands, MARKER-7731")
	require.Equal(t, 204, res.status, string(res.body))
	res = e.feedback(id, last.FeedbackToken, "good", "")
	assert.Equal(t, 404, res.status, "a token works once")

	var good, ok, bad int
	require.NoError(t, e.pool.QueryRow(t.Context(),
		`SELECT feedback_good, feedback_ok, feedback_bad FROM consultation_stats`).Scan(&good, &ok, &bad))
	assert.Equal(t, []int{0, 0, 1}, []int{good, ok, bad})
	var plain bool
	require.NoError(t, e.pool.QueryRow(t.Context(),
		`SELECT bool_or(position('MARKER-7731'::bytea in comment_sealed) > 0) FROM consultation_feedback`).Scan(&plain))
	assert.False(t, plain, "the comment is sealed")
	assert.Equal(t, 1, e.auditCount(consultation.ActionFeedbackGiven, id))

	// The doctor reads it in the history and the consultation.
	var history struct {
		Consultations []struct {
			ID       string
			Feedback []struct{ Role, Rating, Comment string }
		}
	}
	res = e.do(f.doctorIn, "GET", "/api/v1/consultations?status=closed", nil)
	require.Equal(t, 200, res.status)
	res.json(t, &history)
	require.Len(t, history.Consultations, 1)
	require.Len(t, history.Consultations[0].Feedback, 1)
	assert.Equal(t, "patient", history.Consultations[0].Feedback[0].Role)
	assert.Equal(t, "bad", history.Consultations[0].Feedback[0].Rating)
	assert.Equal(t, "Cold hands, MARKER-7731", history.Consultations[0].Feedback[0].Comment)
	res = e.do(f.doctorIn, "GET", "/api/v1/consultations/"+id, nil)
	assert.Contains(t, string(res.body), "MARKER-7731")

	// 24 h after the close the guest's token is too late.
	e.clock.set(e.clock.now().Add(consultation.DefaultFeedbackTTL + time.Minute))
	res = e.feedback(id, guestView.FeedbackToken, "good", "")
	assert.Equal(t, 410, res.status)
	assert.Equal(t, consultationapi.CodeFeedbackExpired, res.code())
	n, err := e.svc.PurgeFeedbackTokens(t.Context())
	require.NoError(t, err)
	assert.Zero(t, n, "the refusal removed the last token of that consultation")

	// A queue that does not ask gives no token.
	_, token = e.invite(f.admin, map[string]any{"queue_id": f.otherQueueID})
	res, p2 := e.redeem(token)
	require.Equal(t, 200, res.status)
	_, v := e.participation(p2)
	assert.False(t, v.AskFeedback)
	assert.Empty(t, v.FeedbackToken)
	assert.Equal(t, "en", v.Language)
	assert.Nil(t, v.ScheduledAt)
}

// TestEstimateHidden: with the queue's "patients see an estimated time"
// switch off, the doctor's estimate reaches staff but never participants,
// neither live nor in the queue position.
func TestEstimateHidden(t *testing.T) {
	e := newEnv(t)
	e.live()
	f := e.clinic()
	id, patient := e.waiting(f, f.queueID, "Hidden")
	doctorWS := e.dial(f.doctorIn, doctorHost)
	patientWS := e.dial(patient, patientHost)

	res := e.do(f.doctorIn, "POST", "/api/v1/consultations/"+id+"/estimate", map[string]int{"minutes": 20})
	require.Equal(t, 200, res.status, string(res.body))
	assert.Equal(t, id, waitMsg(t, doctorWS, "consultation.estimate")["consultation_id"])
	assert.Contains(t, string(e.do(f.doctorIn, "GET", "/api/v1/consultations/"+id, nil).body), "estimated_start_at")

	res = e.doAt(patientHost, patient, "GET", "/api/v1/participant/queue-position", nil)
	require.Equal(t, 200, res.status)
	assert.NotContains(t, string(res.body), "estimated_start_at")

	// The next event the patient gets is the accept: no estimate before.
	require.Equal(t, 200, e.do(f.doctorIn, "POST", "/api/v1/consultations/"+id+"/accept", nil).status)
	for {
		m := readMsg(t, patientWS)
		require.NotEqual(t, "consultation.estimate", m["type"])
		if m["type"] == "consultation.accepted" {
			break
		}
	}
}

// TestParticipantAddedEvents: the doctor and the patient hear live of a
// guest added and of the guest redeeming.
func TestParticipantAddedEvents(t *testing.T) {
	e := newEnv(t)
	e.live()
	f := e.clinic()
	id, patient := e.activeConsultation(f)
	doctorWS := e.dial(f.doctorIn, doctorHost)
	patientWS := e.dial(patient, patientHost)

	inv, token := e.addParticipant(f.doctorIn, id, map[string]any{"role": "expert"})
	want := map[string]any{"consultation_id": id, "participant_id": inv.Invite.ParticipantID, "role": "expert"}
	assert.Equal(t, want, waitMsg(t, doctorWS, consultation.TypeParticipantAdded))
	assert.Equal(t, want, waitMsg(t, patientWS, consultation.TypeParticipantAdded))

	res, _ := e.redeem(token)
	require.Equal(t, 200, res.status)
	assert.Equal(t, want, waitMsg(t, doctorWS, consultation.TypeParticipantAdded))
	assert.Equal(t, want, waitMsg(t, patientWS, consultation.TypeParticipantAdded))
	// A second redemption (another device) is no news.
	res, _ = e.redeem(token)
	require.Equal(t, 200, res.status)
	require.Equal(t, 200, e.do(f.doctorIn, "POST", "/api/v1/consultations/"+id+"/close", nil).status)
	for {
		m := readMsg(t, doctorWS)
		require.NotEqual(t, consultation.TypeParticipantAdded, m["type"])
		if m["type"] == "consultation.closed" {
			break
		}
	}
}

// TestNurseHearsNoChat: a nurse of the queue sees the consultation's
// events but not its chat's, which nurses may not read (authz: chat is
// PermConsultationsManage, doctors only); the doctor hears both.
func TestNurseHearsNoChat(t *testing.T) {
	e := newEnv(t)
	e.live()
	f := e.clinic()
	id, patient := e.chatting(f)
	doctorWS := e.dial(f.doctorIn, doctorHost)
	nurseWS := e.dial(f.nurse, doctorHost)

	res, _ := e.send(patient, patientHost, "/api/v1/participant/consultations/"+id+"/messages", "k1", "hello doctor")
	require.Equal(t, 200, res.status, string(res.body))
	assert.Equal(t, id, waitMsg(t, doctorWS, "chat.message")["consultation_id"])
	res = e.do(f.nurse, "GET", "/api/v1/consultations/"+id+"/messages", nil)
	assert.Equal(t, 403, res.status, "nurses do not read the chat")

	require.Equal(t, 200, e.do(f.doctorIn, "POST", "/api/v1/consultations/"+id+"/close", nil).status)
	for {
		m := readMsg(t, nurseWS)
		require.NotContains(t, []string{"chat.message", "chat.read"}, m["type"])
		if m["type"] == "consultation.closed" {
			break
		}
	}
}
