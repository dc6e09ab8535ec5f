package consultationapi_test

import (
	"context"
	"crypto/ed25519"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/backend/internal/consultationapi"
	"github.com/hcw-home/hcw/contract/grant"
	"github.com/hcw-home/hcw/contract/nodeapi"
	"github.com/hcw-home/hcw/contract/turncred"
)

type callView struct {
	ID             string `json:"id"`
	ConsultationID string `json:"consultation_id"`
	StartedBy      string `json:"started_by"`
	Kind, State    string
	EndReason      string `json:"end_reason"`
	Participants   []struct {
		Identity, Role string
		AcceptedAt     *time.Time `json:"accepted_at"`
		DeclinedAt     *time.Time `json:"declined_at"`
		JoinedAt       *time.Time `json:"joined_at"`
		LeftAt         *time.Time `json:"left_at"`
	}
}

type joinView struct {
	CallID         string    `json:"call_id"`
	Kind           string    `json:"kind"`
	Room           string    `json:"room"`
	Node           string    `json:"node"`
	SignalURL      string    `json:"signal_url"`
	Grant          string    `json:"grant"`
	GrantExpiresAt time.Time `json:"grant_expires_at"`
	Sources        []string  `json:"sources"`
	ICEServers     []struct {
		URLs       []string `json:"urls"`
		Username   string   `json:"username"`
		Credential string   `json:"credential"`
	} `json:"ice_servers"`
}

// activeConsultation is a consultation of f's queue accepted by doctorIn,
// with its patient's session.
func (e *env) activeConsultation(f fixture) (string, *caller) {
	e.t.Helper()
	id, patient := e.waitingConsultation(f)
	res := e.do(f.doctorIn, "POST", "/api/v1/consultations/"+id+"/accept", nil)
	require.Equal(e.t, 200, res.status, string(res.body))
	return id, patient
}

// node registers a media node at the environment's clock.
func (e *env) node(id, upstream string, capacity, participants int, draining bool) {
	e.t.Helper()
	_, err := e.nodes.Heartbeat(context.Background(), id, nodeapi.Heartbeat{Upstream: upstream, Capacity: capacity,
		Load: nodeapi.Load{Participants: participants}, Draining: draining})
	require.NoError(e.t, err)
}

// callAs runs a call operation as c from its app's host.
func (e *env) callAs(c *caller, host, method, id, action string, body any) response {
	e.t.Helper()
	path := "/api/v1/consultations/" + id + "/call"
	if action != "" {
		path += "/" + action
	}
	return e.doAt(host, c, method, path, body)
}

func (e *env) startCall(c *caller, id, kind string) callView {
	e.t.Helper()
	res := e.callAs(c, doctorHost, "POST", id, "", map[string]string{"kind": kind})
	require.Equal(e.t, 201, res.status, string(res.body))
	var v callView
	res.json(e.t, &v)
	return v
}

func (e *env) join(c *caller, host, id string) joinView {
	e.t.Helper()
	res := e.callAs(c, host, "POST", id, "join", nil)
	require.Equal(e.t, 200, res.status, string(res.body))
	var j joinView
	res.json(e.t, &j)
	return j
}

func (e *env) participantID(c *caller) string {
	e.t.Helper()
	res := e.doAt(patientHost, c, "GET", "/api/v1/participant/me", nil)
	require.Equal(e.t, 200, res.status, string(res.body))
	var me struct {
		ParticipantID string `json:"participant_id"`
	}
	res.json(e.t, &me)
	return me.ParticipantID
}

func (e *env) currentCall(c *caller, host, id string) *callView {
	e.t.Helper()
	res := e.callAs(c, host, "GET", id, "", nil)
	require.Equal(e.t, 200, res.status, string(res.body))
	var body struct{ Call *callView }
	res.json(e.t, &body)
	return body.Call
}

// verify checks a join's grant with the environment's public key and its
// TURN credential with the TURN secret, and returns the grant's claims.
func (e *env) verify(j joinView, node string) *grant.Claims {
	e.t.Helper()
	v := grant.NewVerifier(e.grantKey.Public().(ed25519.PublicKey))
	c, err := v.Verify(j.Grant, e.clock.now(), j.Room, node)
	require.NoError(e.t, err)
	assert.Equal(e.t, e.clock.now().Add(testGrantTTL).Unix(), j.GrantExpiresAt.Unix())
	assert.Equal(e.t, "wss://"+testMediaHost+"/n/"+node+"/signal", j.SignalURL)
	require.Len(e.t, j.ICEServers, 1)
	ice := j.ICEServers[0]
	assert.Equal(e.t, []string{testTURNURL}, ice.URLs)
	user, err := turncred.Check(ice.Username, e.clock.now())
	require.NoError(e.t, err)
	assert.Equal(e.t, c.Subject, user, "TURN credentials for the grant's identity")
	assert.Equal(e.t, turncred.Password([]byte(testTURNSecret), ice.Username), ice.Credential)
	_, err = turncred.Check(ice.Username, e.clock.now().Add(12*time.Hour+time.Second))
	assert.ErrorIs(e.t, err, turncred.ErrExpired)
	return c
}

// TestCallRingAcceptJoin: the doctor starts a video call, it rings on the
// patient's and the doctor's sockets, the doctor joins while it rings, the
// patient joins (answering it); each gets a grant for the same room and
// node with their own identity, role and sources, and TURN credentials.
func TestCallRingAcceptJoin(t *testing.T) {
	e := newEnv(t)
	e.live()
	f := e.clinic()
	id, patient := e.activeConsultation(f)
	e.node("media-1", "media-1:7880", 100, 0, false)
	doctorWS := e.dial(f.doctorIn, doctorHost)
	patientWS := e.dial(patient, patientHost)

	call := e.startCall(f.doctorIn, id, "video")
	assert.Equal(t, "ringing", call.State)
	assert.Equal(t, "video", call.Kind)
	assert.Equal(t, f.doctorInUser.ID, call.StartedBy)
	d := waitMsg(t, patientWS, "call.ringing")
	assert.Equal(t, call.ID, d["call_id"])
	assert.Equal(t, id, d["consultation_id"])
	assert.Equal(t, "video", d["kind"])
	assert.Equal(t, call.ID, waitMsg(t, doctorWS, "call.ringing")["call_id"])

	j := e.join(f.doctorIn, doctorHost, id)
	assert.Equal(t, call.ID, j.CallID)
	assert.Equal(t, id, j.Room)
	assert.Equal(t, "media-1", j.Node)
	c := e.verify(j, "media-1")
	assert.Equal(t, "u-"+f.doctorInUser.ID, c.Subject)
	assert.Equal(t, "doctor", c.Role)
	assert.Equal(t, "Test doctor", c.Name)
	assert.Equal(t, []string{grant.SourceCamera, grant.SourceMicrophone, grant.SourceScreen}, c.Sources)
	assert.Equal(t, c.Sources, j.Sources, "the answer says what the grant allows")
	assert.False(t, c.AudioOnly)
	assert.Equal(t, "ringing", e.currentCall(f.doctorIn, doctorHost, id).State, "the doctor joining does not answer")

	j = e.join(patient, patientHost, id)
	assert.Equal(t, "media-1", j.Node)
	c = e.verify(j, "media-1")
	assert.Equal(t, "p-"+e.participantID(patient), c.Subject)
	assert.Equal(t, "patient", c.Role)
	assert.Equal(t, "Ada Lovelace", c.Name)
	assert.Equal(t, []string{grant.SourceCamera, grant.SourceMicrophone}, c.Sources, "no screen share for the patient")
	assert.Equal(t, c.Sources, j.Sources)
	assert.False(t, c.Allows(grant.SourceScreen))
	d = waitMsg(t, doctorWS, "call.accepted")
	assert.Equal(t, "p-"+e.participantID(patient), d["participant"])

	// The grant is for this room and node only.
	v := grant.NewVerifier(e.grantKey.Public().(ed25519.PublicKey))
	_, err := v.Verify(j.Grant, e.clock.now(), "another-room", "")
	assert.ErrorIs(t, err, grant.ErrWrongRoom)
	_, err = v.Verify(j.Grant, e.clock.now(), "", "media-2")
	assert.ErrorIs(t, err, grant.ErrWrongNode)
	_, err = v.Verify(j.Grant, e.clock.now().Add(testGrantTTL+time.Minute), "", "")
	assert.ErrorIs(t, err, grant.ErrExpired)

	cur := e.currentCall(patient, patientHost, id)
	require.NotNil(t, cur)
	assert.Equal(t, "active", cur.State)
	require.Len(t, cur.Participants, 2)
	for _, p := range cur.Participants {
		assert.NotNil(t, p.JoinedAt, p.Identity)
		assert.NotNil(t, p.AcceptedAt, p.Identity)
	}
	assert.Equal(t, 1, e.auditCount("call.started", id))
	assert.Equal(t, 2, e.auditCount("call.joined", id))

	// The doctor hangs up: call.ended on both sockets, no call left.
	res := e.callAs(f.doctorIn, doctorHost, "POST", id, "end", nil)
	require.Equal(t, 200, res.status, string(res.body))
	var ended callView
	res.json(t, &ended)
	assert.Equal(t, "ended", ended.State)
	assert.Equal(t, "hung_up", ended.EndReason)
	assert.Equal(t, "hung_up", waitMsg(t, patientWS, "call.ended")["reason"])
	assert.Equal(t, "hung_up", waitMsg(t, doctorWS, "call.ended")["reason"])
	assert.Nil(t, e.currentCall(patient, patientHost, id))
	res = e.callAs(patient, patientHost, "POST", id, "join", nil)
	assert.Equal(t, 409, res.status)
	assert.Equal(t, consultationapi.CodeNoActiveCall, res.code())
}

func TestAudioCallGrantIsAudioOnly(t *testing.T) {
	e := newEnv(t)
	f := e.clinic()
	id, patient := e.activeConsultation(f)
	e.node("media-1", "media-1:7880", 100, 0, false)
	e.startCall(f.doctorIn, id, "audio")
	for _, j := range []joinView{e.join(f.doctorIn, doctorHost, id), e.join(patient, patientHost, id)} {
		assert.Equal(t, "audio", j.Kind)
		c := e.verify(j, "media-1")
		assert.True(t, c.AudioOnly)
		assert.Equal(t, []string{grant.SourceMicrophone}, c.Sources)
		assert.Equal(t, []string{grant.SourceMicrophone}, j.Sources)
		assert.True(t, c.Allows(grant.SourceMicrophone))
		assert.False(t, c.Allows(grant.SourceCamera))
		assert.False(t, c.Allows(grant.SourceScreen))
	}
}

func (e *env) callEndReason(callID string) string {
	e.t.Helper()
	var reason *string
	require.NoError(e.t, e.pool.QueryRow(context.Background(), `SELECT end_reason FROM calls WHERE id = $1`, callID).Scan(&reason))
	if reason == nil {
		return ""
	}
	return *reason
}

// TestCallDeclineTimeoutsAndErrors: the patient declining ends the call;
// a guest declining leaves it ringing; a call nobody answers ends after
// the ring timeout, an answered one after the maximum duration.
func TestCallDeclineTimeoutsAndErrors(t *testing.T) {
	e := newEnv(t)
	f := e.clinic()
	id, patient := e.activeConsultation(f)
	_, guestToken := e.addParticipant(f.doctorIn, id, map[string]any{"role": "guest"})
	res, guest := e.redeem(guestToken)
	require.Equal(t, 200, res.status, string(res.body))

	// Without a healthy node nothing rings.
	res = e.callAs(f.doctorIn, doctorHost, "POST", id, "", map[string]string{"kind": "video"})
	assert.Equal(t, 503, res.status, string(res.body))
	assert.Equal(t, consultationapi.CodeNoMediaNode, res.code())
	assert.Contains(t, string(res.body), "no media node available")
	e.node("media-1", "media-1:7880", 100, 0, false)

	res = e.callAs(f.doctorIn, doctorHost, "POST", id, "", map[string]string{"kind": "screen"})
	assert.Equal(t, 400, res.status)
	assert.Contains(t, string(res.body), `"field":"kind"`)
	res = e.callAs(patient, patientHost, "POST", id, "accept", nil)
	assert.Equal(t, 409, res.status)
	assert.Equal(t, consultationapi.CodeNoActiveCall, res.code())

	// Declined by the guest: still ringing. By the patient: ended.
	call := e.startCall(f.doctorIn, id, "video")
	res = e.callAs(f.doctorIn, doctorHost, "POST", id, "", map[string]string{"kind": "video"})
	assert.Equal(t, 409, res.status)
	assert.Equal(t, consultationapi.CodeCallInProgress, res.code())
	res = e.callAs(guest, patientHost, "POST", id, "decline", nil)
	require.Equal(t, 200, res.status, string(res.body))
	assert.Equal(t, "ringing", e.currentCall(patient, patientHost, id).State)
	res = e.callAs(patient, patientHost, "POST", id, "decline", nil)
	require.Equal(t, 200, res.status, string(res.body))
	var v callView
	res.json(t, &v)
	assert.Equal(t, "ended", v.State)
	assert.Equal(t, "declined", v.EndReason)
	assert.Nil(t, e.currentCall(patient, patientHost, id))
	assert.Equal(t, "declined", e.callEndReason(call.ID))

	// Nobody answers: ended after the ring timeout, not before.
	call = e.startCall(f.doctorIn, id, "video")
	start := e.clock.now()
	e.clock.set(start.Add(testRing - time.Second))
	n, err := e.svc.EndOverdueCalls(t.Context())
	require.NoError(t, err)
	assert.Zero(t, n)
	e.clock.set(start.Add(testRing))
	n, err = e.svc.EndOverdueCalls(t.Context())
	require.NoError(t, err)
	assert.Equal(t, int64(1), n)
	assert.Equal(t, "no_answer", e.callEndReason(call.ID))
	assert.Nil(t, e.currentCall(f.doctorIn, doctorHost, id))

	// Answered: declining is too late, and the call ends at its maximum
	// duration.
	e.node("media-1", "media-1:7880", 100, 0, false)
	call = e.startCall(f.doctorIn, id, "video")
	start = e.clock.now()
	res = e.callAs(patient, patientHost, "POST", id, "accept", nil)
	require.Equal(t, 200, res.status, string(res.body))
	res.json(t, &v)
	assert.Equal(t, "active", v.State)
	res = e.callAs(guest, patientHost, "POST", id, "decline", nil)
	assert.Equal(t, 409, res.status)
	assert.Equal(t, consultationapi.CodeCallNotRinging, res.code())
	e.clock.set(start.Add(testRing + time.Minute))
	n, err = e.svc.EndOverdueCalls(t.Context())
	require.NoError(t, err)
	assert.Zero(t, n, "an answered call outlives the ring timeout")
	e.clock.set(start.Add(testMaxCall))
	n, err = e.svc.EndOverdueCalls(t.Context())
	require.NoError(t, err)
	assert.Equal(t, int64(1), n)
	assert.Equal(t, "max_duration", e.callEndReason(call.ID))

	// A consultation that is not active has no calls.
	pending, _ := e.waitingConsultation(f)
	res = e.callAs(f.doctorIn, doctorHost, "POST", pending, "", map[string]string{"kind": "video"})
	assert.Equal(t, 404, res.status, "no doctor yet: not a member")
	require.Equal(t, 200, e.do(f.doctorIn, "POST", "/api/v1/consultations/"+pending+"/accept", nil).status)
	require.Equal(t, 200, e.do(f.doctorIn, "POST", "/api/v1/consultations/"+pending+"/close", nil).status)
	res = e.callAs(f.doctorIn, doctorHost, "POST", pending, "", map[string]string{"kind": "video"})
	assert.Equal(t, 409, res.status)
	assert.Equal(t, consultationapi.CodeConsultationNotActive, res.code())
}

// TestCallAuthorisation: a call is its consultation's only. Another
// consultation's patient and a doctor who is not its doctor get 404
// (audited as denied); roles without the permission get 403.
func TestCallAuthorisation(t *testing.T) {
	e := newEnv(t)
	f := e.clinic()
	e.node("media-1", "media-1:7880", 100, 0, false)
	a, patientA := e.activeConsultation(f)
	b, patientB := e.activeConsultation(f)
	e.startCall(f.doctorIn, b, "video")

	for _, action := range []struct{ method, action string }{
		{"GET", ""}, {"POST", "accept"}, {"POST", "decline"}, {"POST", "join"},
	} {
		res := e.callAs(patientA, patientHost, action.method, b, action.action, nil)
		assert.Equal(t, 404, res.status, "patient A on B's call: %s %s", action.method, action.action)
		assert.Equal(t, "not_found", res.code())
		res = e.callAs(f.doctorOut, doctorHost, action.method, b, action.action, nil)
		assert.Equal(t, 404, res.status, "another doctor on B's call: %s %s", action.method, action.action)
	}
	res := e.callAs(f.doctorOut, doctorHost, "POST", b, "end", nil)
	assert.Equal(t, 404, res.status)
	res = e.callAs(f.doctorOut, doctorHost, "POST", a, "", map[string]string{"kind": "video"})
	assert.Equal(t, 404, res.status, "another doctor cannot start a call on A")
	for _, c := range []*caller{f.nurse, f.admin} {
		assert.Equal(t, 403, e.callAs(c, doctorHost, "GET", b, "", nil).status)
		assert.Equal(t, 403, e.callAs(c, doctorHost, "POST", b, "join", nil).status)
	}
	assert.Equal(t, 403, e.callAs(patientB, patientHost, "POST", b, "end", nil).status, "participants do not hang up for all")
	assert.Equal(t, 403, e.callAs(patientB, patientHost, "POST", b, "", map[string]string{"kind": "video"}).status)
	assert.Equal(t, 401, e.callAs(&caller{}, patientHost, "GET", b, "", nil).status)
	assert.Equal(t, 401, e.callAs(f.scheduler, doctorHost, "GET", b, "", nil).status, "calls take a session, never an API key")

	var denied int
	require.NoError(t, e.pool.QueryRow(t.Context(),
		`SELECT count(*) FROM audit_events WHERE action LIKE 'call.%' AND outcome = 'denied' AND object_id = $1`, b).Scan(&denied))
	assert.Equal(t, 9, denied, "4 by patient A, 5 by the other doctor")
	// B's call is untouched.
	cur := e.currentCall(patientB, patientHost, b)
	require.NotNil(t, cur)
	assert.Equal(t, "ringing", cur.State)
	assert.Nil(t, e.currentCall(patientA, patientHost, a))
}

// TestCallPlacement: the first joins of a call, concurrent, all land on
// the least-loaded healthy node; later joins stay there; when that node
// dies the next join moves the call to another one.
func TestCallPlacement(t *testing.T) {
	e := newEnv(t)
	f := e.clinic()
	e.node("busy", "busy:7880", 10, 9, false)
	e.node("light", "light:7880", 100, 10, false)
	e.node("light-draining", "ld:7880", 100, 0, true)
	e.node("light-full", "lf:7880", 5, 5, false)

	for round := range 3 {
		id, patient := e.activeConsultation(f)
		var guests []*caller
		for range 2 {
			_, token := e.addParticipant(f.doctorIn, id, map[string]any{"role": "interpreter"})
			res, g := e.redeem(token)
			require.Equal(t, 200, res.status, string(res.body))
			guests = append(guests, g)
		}
		e.startCall(f.doctorIn, id, "video")
		type member struct {
			c    *caller
			host string
		}
		members := []member{{f.doctorIn, doctorHost}, {patient, patientHost}, {guests[0], patientHost}, {guests[1], patientHost}}
		nodes := make([]string, len(members))
		var wg sync.WaitGroup
		for i, m := range members {
			wg.Go(func() {
				r := e.callAs(m.c, m.host, "POST", id, "join", nil)
				if r.status != 200 {
					nodes[i] = "status " + string(r.body)
					return
				}
				var j joinView
				r.json(t, &j)
				nodes[i] = j.Node
			})
		}
		wg.Wait()
		for i, n := range nodes {
			assert.Equal(t, "light", n, "round %d, member %d", round, i)
		}
		if round < 2 {
			continue
		}
		// "light" dies: only the others keep beating past the timeout.
		e.clock.set(e.clock.now().Add(nodeapi.NodeTimeout))
		e.node("busy", "busy:7880", 10, 9, false)
		e.node("light-draining", "ld:7880", 100, 0, true)
		j := e.join(patient, patientHost, id)
		assert.Equal(t, "busy", j.Node, "placed again on the only healthy node with room")
		e.verify(j, "busy")
		j = e.join(f.doctorIn, doctorHost, id)
		assert.Equal(t, "busy", j.Node, "and sticky there")
	}
}

// TestCallPlacementSpreadsABurst: calls placed between two heartbeats
// count against their node before their participants arrive, so two new
// calls on two idle nodes land on different ones.
func TestCallPlacementSpreadsABurst(t *testing.T) {
	e := newEnv(t)
	f := e.clinic()
	e.node("node-a", "a:7880", 100, 0, false)
	e.node("node-b", "b:7880", 100, 0, false)
	seen := map[string]bool{}
	for range 2 {
		id, patient := e.activeConsultation(f)
		e.startCall(f.doctorIn, id, "video")
		seen[e.join(patient, patientHost, id).Node] = true
	}
	assert.Equal(t, map[string]bool{"node-a": true, "node-b": true}, seen)
}

// controlNode is a media node's control API that records its calls.
type controlNode struct {
	srv   *httptest.Server
	mu    sync.Mutex
	calls map[string]time.Time
	auth  []string
}

func newControlNode(t *testing.T) *controlNode {
	n := &controlNode{calls: map[string]time.Time{}}
	n.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.mu.Lock()
		n.calls[r.Method+" "+r.URL.Path] = time.Now()
		n.auth = append(n.auth, r.Header.Get("Authorization"))
		n.mu.Unlock()
		if !nodeapi.Authorized(r, testNodeSecret) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = io.WriteString(w, `{"removed":true}`)
	}))
	t.Cleanup(n.srv.Close)
	return n
}

// waitFor polls until the node saw call, at most 5 s after since.
func (n *controlNode) waitFor(t *testing.T, call string, since time.Time) {
	t.Helper()
	for {
		n.mu.Lock()
		at, ok := n.calls[call]
		n.mu.Unlock()
		if ok {
			assert.Less(t, at.Sub(since), 5*time.Second, call)
			return
		}
		if time.Since(since) > 5*time.Second {
			t.Fatalf("the node did not see %s within 5 s", call)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCallControlReachesTheNode: revoking a participant removes them from
// the room, closing the consultation ends its room, disabling a doctor
// removes them from their rooms: each reaches the node within 5 s, with
// the node secret.
func TestCallControlReachesTheNode(t *testing.T) {
	e := newEnv(t)
	f := e.clinic()
	node := newControlNode(t)
	e.node("media-1", strings.TrimPrefix(node.srv.URL, "http://"), 100, 0, false)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { e.nodes.RunControl(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	// Consultation 1: doctorIn, the patient and a guest in the call.
	id, patient := e.activeConsultation(f)
	inv, token := e.addParticipant(f.doctorIn, id, map[string]any{"role": "guest"})
	res, guest := e.redeem(token)
	require.Equal(t, 200, res.status, string(res.body))
	e.startCall(f.doctorIn, id, "video")
	e.join(f.doctorIn, doctorHost, id)
	e.join(patient, patientHost, id)
	e.join(guest, patientHost, id)

	since := time.Now()
	res = e.do(f.doctorIn, "POST", "/api/v1/invites/"+inv.Invite.ID+"/revoke", nil)
	require.Equal(t, 200, res.status, string(res.body))
	node.waitFor(t, "POST /control/v1/rooms/"+id+"/participants/p-"+inv.Invite.ParticipantID+"/remove", since)
	cur := e.currentCall(patient, patientHost, id)
	for _, p := range cur.Participants {
		if p.Identity == "p-"+inv.Invite.ParticipantID {
			assert.NotNil(t, p.LeftAt)
		}
	}

	// Consultation 2, in the other queue: doctorOut closes it.
	inv2, token2 := e.invite(f.admin, map[string]any{"queue_id": f.otherQueueID})
	res, patient2 := e.redeem(token2)
	require.Equal(t, 200, res.status, string(res.body))
	id2 := inv2.Invite.ConsultationID
	require.Equal(t, 200, e.do(f.doctorOut, "POST", "/api/v1/consultations/"+id2+"/accept", nil).status)
	call2 := e.startCall(f.doctorOut, id2, "audio")
	e.join(f.doctorOut, doctorHost, id2)
	e.join(patient2, patientHost, id2)
	since = time.Now()
	res = e.do(f.doctorOut, "POST", "/api/v1/consultations/"+id2+"/close", nil)
	require.Equal(t, 200, res.status, string(res.body))
	node.waitFor(t, "POST /control/v1/rooms/"+id2+"/end", since)
	assert.Equal(t, "consultation_closed", e.callEndReason(call2.ID))

	// doctorIn is disabled mid-call: out of consultation 1's room.
	since = time.Now()
	res = e.do(f.admin, "POST", "/api/v1/admin/users/"+f.doctorInUser.ID+"/disable", nil)
	require.Equal(t, 200, res.status, string(res.body))
	node.waitFor(t, "POST /control/v1/rooms/"+id+"/participants/u-"+f.doctorInUser.ID+"/remove", since)

	node.mu.Lock()
	defer node.mu.Unlock()
	assert.NotEmpty(t, node.auth)
	for _, a := range node.auth {
		assert.Equal(t, "Bearer "+testNodeSecret, a)
	}
}
