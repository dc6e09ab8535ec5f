package consultationapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/backend/internal/audit"
	"github.com/hcw-home/hcw/backend/internal/authz"
	"github.com/hcw-home/hcw/backend/internal/consultation"
	"github.com/hcw-home/hcw/backend/internal/consultationapi"
	"github.com/hcw-home/hcw/backend/internal/events"
	"github.com/hcw-home/hcw/backend/internal/realtime"
	"github.com/hcw-home/hcw/backend/internal/signin"
)

type ackView struct {
	Key       string
	Seq       int64
	ID        string
	CreatedAt time.Time `json:"created_at"`
}

type messageView struct {
	ID                  string
	Seq                 int64
	SenderParticipantID string `json:"sender_participant_id"`
	SenderUserID        string `json:"sender_user_id"`
	Key                 string
	Text                string
}

type messageListView struct {
	Messages []messageView
	More     bool
}

// chatting makes an active consultation: a patient waits in the queue
// and doctorIn accepts.
func (e *env) chatting(f fixture) (id string, patient *caller) {
	e.t.Helper()
	id, patient = e.waiting(f, f.queueID, "Patient")
	res := e.do(f.doctorIn, "POST", "/api/v1/consultations/"+id+"/accept", nil)
	require.Equal(e.t, 200, res.status, string(res.body))
	return id, patient
}

func (e *env) send(c *caller, host, path, key, text string) (response, ackView) {
	e.t.Helper()
	res := e.doAt(host, c, "POST", path, map[string]string{"key": key, "text": text})
	var a ackView
	if res.status == 200 {
		res.json(e.t, &a)
	}
	return res, a
}

func (e *env) history(c *caller, host, path string, after int64) (response, messageListView) {
	e.t.Helper()
	res := e.doAt(host, c, "GET", fmt.Sprintf("%s?after=%d", path, after), nil)
	var l messageListView
	if res.status == 200 {
		res.json(e.t, &l)
	}
	return res, l
}

func staffPath(id string) string   { return "/api/v1/consultations/" + id + "/messages" }
func patientPath(id string) string { return "/api/v1/participant/consultations/" + id + "/messages" }

func (e *env) messageRows(id string) int {
	e.t.Helper()
	var n int
	require.NoError(e.t, e.pool.QueryRow(context.Background(), `SELECT count(*) FROM messages WHERE consultation_id = $1`, id).Scan(&n))
	return n
}

func sendWS(t *testing.T, ws *websocket.Conn, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	require.NoError(t, ws.Write(ctx, websocket.MessageText, b))
}

// waitEnvelope reads until an envelope of type typ arrives and returns
// it whole.
func waitEnvelope(t *testing.T, ws *websocket.Conn, typ string) map[string]any {
	t.Helper()
	for {
		m := readMsg(t, ws)
		if m["type"] == typ {
			return m
		}
	}
}

// TestChatIdempotentResend: the same key twice (REST, then the socket)
// gets the same ack and stores one row; the other side's messages follow
// in order; texts come back opened, in seq order.
func TestChatIdempotentResend(t *testing.T) {
	e := newEnv(t)
	e.live()
	f := e.clinic()
	id, patient := e.chatting(f)

	res, first := e.send(patient, patientHost, patientPath(id), "k-1", "Hello doctor")
	require.Equal(t, 200, res.status, string(res.body))
	assert.Equal(t, int64(1), first.Seq)
	res, again := e.send(patient, patientHost, patientPath(id), "k-1", "Hello doctor (resent)")
	require.Equal(t, 200, res.status, string(res.body))
	assert.Equal(t, first, again, "a resend gets the same ack")
	assert.Equal(t, 1, e.messageRows(id))

	// The same key from another sender is another message.
	res, doc := e.send(f.doctorIn, doctorHost, staffPath(id), "k-1", "Hello patient")
	require.Equal(t, 200, res.status, string(res.body))
	assert.Equal(t, int64(2), doc.Seq)

	// Over the patient's socket: a resend of k-1 is acked with seq 1.
	ws := e.dial(patient, patientHost)
	sendWS(t, ws, map[string]any{"type": "chat.send", "id": "c1", "data": map[string]string{"key": "k-1", "text": "again"}})
	m := waitEnvelope(t, ws, consultationapi.TypeChatAck)
	assert.Equal(t, "c1", m["id"])
	d := m["data"].(map[string]any)
	assert.Equal(t, float64(1), d["seq"])
	assert.Equal(t, first.ID, d["id"])
	sendWS(t, ws, map[string]any{"type": "chat.send", "id": "c2", "data": map[string]string{"key": "k-2", "text": "Third"}})
	m = waitEnvelope(t, ws, consultationapi.TypeChatAck)
	assert.Equal(t, "c2", m["id"])
	assert.Equal(t, float64(3), m["data"].(map[string]any)["seq"])
	assert.Equal(t, 3, e.messageRows(id))

	res, l := e.history(f.doctorIn, doctorHost, staffPath(id), 0)
	require.Equal(t, 200, res.status, string(res.body))
	require.Len(t, l.Messages, 3)
	for i, want := range []string{"Hello doctor", "Hello patient", "Third"} {
		assert.Equal(t, int64(i+1), l.Messages[i].Seq)
		assert.Equal(t, want, l.Messages[i].Text)
	}
	assert.Equal(t, f.doctorInUser.ID, l.Messages[1].SenderUserID)
	assert.NotEmpty(t, l.Messages[0].SenderParticipantID)
	res, l = e.history(patient, patientHost, patientPath(id), 2)
	require.Equal(t, 200, res.status)
	require.Len(t, l.Messages, 1)
	assert.Equal(t, "Third", l.Messages[0].Text)

	// Validation names the field.
	res, _ = e.send(patient, patientHost, patientPath(id), "k-3", "")
	assert.Equal(t, 400, res.status)
	res, _ = e.send(patient, patientHost, patientPath(id), strings.Repeat("k", 65), "x")
	assert.Equal(t, 400, res.status)
	res, _ = e.send(patient, patientHost, patientPath(id), "k-4", strings.Repeat("é", consultation.MaxMessageRunes+1))
	assert.Equal(t, 400, res.status)
	res, _ = e.send(patient, patientHost, patientPath(id), "k-5", strings.Repeat("é", consultation.MaxMessageRunes))
	assert.Equal(t, 200, res.status, string(res.body))
}

// TestChatAuthorisationAndAudit: a patient of A asking for B is 404 and
// audited (REST and socket); a doctor outside the queue is 404; nurses
// are refused; every read is audited without the text.
func TestChatAuthorisationAndAudit(t *testing.T) {
	e := newEnv(t)
	e.live()
	f := e.clinic()
	a, patientA := e.chatting(f)
	b, patientB := e.chatting(f)
	res, _ := e.send(patientB, patientHost, patientPath(b), "b-1", "secret of B")
	require.Equal(t, 200, res.status)

	deniedCount := func(objectID string) int {
		var n int
		require.NoError(t, e.pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_events
			WHERE object_id = $1 AND outcome = 'denied' AND action LIKE 'chat.%'`, objectID).Scan(&n))
		return n
	}
	res, _ = e.history(patientA, patientHost, patientPath(b), 0)
	assert.Equal(t, 404, res.status)
	res, _ = e.send(patientA, patientHost, patientPath(b), "a-1", "into B")
	assert.Equal(t, 404, res.status)
	assert.Equal(t, 2, deniedCount(b))
	res, _ = e.history(f.doctorOut, doctorHost, staffPath(a), 0)
	assert.Equal(t, 404, res.status, "doctor outside the queue")
	res, _ = e.send(f.doctorOut, doctorHost, staffPath(a), "o-1", "hi")
	assert.Equal(t, 404, res.status)
	assert.Equal(t, 2, deniedCount(a))
	res, _ = e.history(f.nurse, doctorHost, staffPath(a), 0)
	assert.Equal(t, 403, res.status)

	// The patient's socket cannot send into B either.
	ws := e.dial(patientA, patientHost)
	sendWS(t, ws, map[string]any{"type": "chat.send", "id": "x", "data": map[string]string{"consultation_id": b, "key": "a-2", "text": "x"}})
	m := waitEnvelope(t, ws, realtime.TypeError)
	assert.Equal(t, "x", m["id"])
	assert.Equal(t, "not_found", m["data"].(map[string]any)["code"])
	assert.Equal(t, 1, e.messageRows(b))
	assert.Equal(t, 0, e.messageRows(a))

	before := e.auditCount(consultation.ActionMessagesRead, b)
	res, l := e.history(patientB, patientHost, patientPath(b), 0)
	require.Equal(t, 200, res.status)
	require.Len(t, l.Messages, 1)
	res, _ = e.history(f.doctorIn, doctorHost, staffPath(b), 0)
	require.Equal(t, 200, res.status)
	assert.Equal(t, before+2, e.auditCount(consultation.ActionMessagesRead, b))
	var leaked int
	require.NoError(t, e.pool.QueryRow(context.Background(),
		`SELECT count(*) FROM audit_events a WHERE a::text LIKE '%secret of B%'`).Scan(&leaked))
	assert.Zero(t, leaked)
}

// TestChatSealedAtRest: the text is nowhere in the row's clear text.
func TestChatSealedAtRest(t *testing.T) {
	e := newEnv(t)
	f := e.clinic()
	id, patient := e.chatting(f)
	const marker = "MARKER-chat-7f3a9"
	res, ack := e.send(patient, patientHost, patientPath(id), "k", "I have "+marker)
	require.Equal(t, 200, res.status)
	var raw string
	require.NoError(t, e.pool.QueryRow(context.Background(), `SELECT m::text FROM messages m WHERE id = $1`, ack.ID).Scan(&raw))
	assert.NotContains(t, raw, marker)
	assert.NotContains(t, raw, fmt.Sprintf("%x", marker))
	// The AAD binds the value to its row: moved to another row it fails.
	var sealedBody []byte
	require.NoError(t, e.pool.QueryRow(context.Background(), `SELECT body_sealed FROM messages WHERE id = $1`, ack.ID).Scan(&sealedBody))
	_, err := e.keys.Open(sealedBody, consultation.SealedAAD("messages", "body", "00000000-0000-4000-8000-000000000000"))
	assert.Error(t, err)
	plain, err := e.keys.Open(sealedBody, consultation.SealedAAD("messages", "body", ack.ID))
	require.NoError(t, err)
	assert.Contains(t, string(plain), marker)
}

// TestChatClosedIsReadOnly: after closing, sends are refused with
// consultation_closed (REST and service), a lost ack of an earlier
// message is still recovered, and the doctor still reads the history.
func TestChatClosedIsReadOnly(t *testing.T) {
	e := newEnv(t)
	f := e.clinic()
	id, patient := e.chatting(f)
	res, first := e.send(f.doctorIn, doctorHost, staffPath(id), "d-1", "Goodbye")
	require.Equal(t, 200, res.status)
	pp, err := e.svc.ParticipantPrincipal(t.Context(), patient.cookie)
	require.NoError(t, err)
	require.Equal(t, 200, e.do(f.doctorIn, "POST", "/api/v1/consultations/"+id+"/close", nil).status)

	res, _ = e.send(f.doctorIn, doctorHost, staffPath(id), "d-2", "After close")
	assert.Equal(t, 410, res.status)
	assert.Equal(t, consultationapi.CodeConsultationClosed, res.code())
	_, err = e.svc.SendMessage(t.Context(), pp, consultation.Actor{Type: audit.ActorParticipant, ID: pp.ID}, id, "p-1", "late")
	assert.ErrorIs(t, err, consultation.ErrConsultationClosed)
	res, again := e.send(f.doctorIn, doctorHost, staffPath(id), "d-1", "Goodbye")
	require.Equal(t, 200, res.status, "a resend of a stored message is still acked")
	assert.Equal(t, first, again)
	assert.Equal(t, 1, e.messageRows(id))

	res, l := e.history(f.doctorIn, doctorHost, staffPath(id), 0)
	require.Equal(t, 200, res.status)
	require.Len(t, l.Messages, 1)
	res, _ = e.history(patient, patientHost, patientPath(id), 0)
	assert.Equal(t, 401, res.status, "the participant's session ended with the consultation")
}

// TestChatReadReceiptsAndSync: a receipt moves forward only and reaches
// the doctor as chat.read; chat.sync answers with the messages after a
// seq, in order, in pages.
func TestChatReadReceiptsAndSync(t *testing.T) {
	e := newEnv(t)
	e.live()
	f := e.clinic()
	id, patient := e.chatting(f)
	for i := range 5 {
		res, _ := e.send(f.doctorIn, doctorHost, staffPath(id), fmt.Sprint("d-", i), fmt.Sprint("message ", i+1))
		require.Equal(t, 200, res.status)
	}
	doctorWS := e.dial(f.doctorIn, doctorHost)
	res := e.doAt(patientHost, patient, "POST", patientPath(id)+"/read", map[string]int64{"seq": 3})
	require.Equal(t, 204, res.status, string(res.body))
	d := waitMsg(t, doctorWS, consultation.EventChatRead)
	assert.Equal(t, id, d["consultation_id"])
	assert.Equal(t, float64(3), d["seq"])
	assert.NotEmpty(t, d["participant_id"])
	res = e.doAt(patientHost, patient, "POST", patientPath(id)+"/read", map[string]int64{"seq": 9})
	assert.Equal(t, 400, res.status, "beyond the last message")
	var last int64
	require.NoError(t, e.pool.QueryRow(t.Context(), `SELECT last_read_seq FROM message_reads WHERE consultation_id = $1`, id).Scan(&last))
	assert.Equal(t, int64(3), last)
	res = e.doAt(patientHost, patient, "POST", patientPath(id)+"/read", map[string]int64{"seq": 2})
	require.Equal(t, 204, res.status)
	require.NoError(t, e.pool.QueryRow(t.Context(), `SELECT last_read_seq FROM message_reads WHERE consultation_id = $1`, id).Scan(&last))
	assert.Equal(t, int64(3), last, "receipts never move back")

	ws := e.dial(patient, patientHost)
	var got []float64
	after := 1
	for {
		sendWS(t, ws, map[string]any{"type": "chat.sync", "id": "s", "data": map[string]any{"after": after, "limit": 2}})
		m := waitEnvelope(t, ws, consultationapi.TypeChatBatch)
		data := m["data"].(map[string]any)
		for _, msg := range data["messages"].([]any) {
			seq := msg.(map[string]any)["seq"].(float64)
			got = append(got, seq)
			after = int(seq)
		}
		if data["more"] != true {
			break
		}
	}
	assert.Equal(t, []float64{2, 3, 4, 5}, got)
	sendWS(t, ws, map[string]any{"type": "chat.read", "id": "r", "data": map[string]any{"seq": 5}})
	assert.Equal(t, float64(5), waitEnvelope(t, ws, consultationapi.TypeChatReadOK)["data"].(map[string]any)["seq"])
	sendWS(t, ws, map[string]any{"type": "chat.send", "id": "bad", "data": map[string]any{"key": "k", "text": "x", "extra": 1}})
	assert.Equal(t, realtime.CodeInvalidMessage, waitEnvelope(t, ws, realtime.TypeError)["data"].(map[string]any)["code"])
}

// replica is a second backend replica on the same database: its own hub,
// listener and socket server.
type replica struct {
	hub   *realtime.Hub
	wsURL string
}

func (e *env) newReplica() *replica {
	e.t.Helper()
	r := &replica{hub: realtime.NewHub()}
	h := realtime.NewHandler(realtime.Params{Logger: e.logger, Hub: r.hub, AppHosts: appHosts,
		WriteError:   func(w http.ResponseWriter, status int, code, message string) { http.Error(w, code, status) },
		Authenticate: consultationapi.SocketAuthenticator(e.auth), Messages: e.api.SocketMessages()})
	listening := make(chan struct{})
	var once sync.Once
	l := events.NewListener(events.ListenerParams{ConnConfig: e.pool.Config().ConnConfig.Copy(), Sink: r.hub,
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnListen: func() { once.Do(func() { close(listening) }) }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = l.Run(ctx); close(done) }()
	srv := httptest.NewServer(h)
	e.t.Cleanup(func() {
		r.hub.Shutdown()
		srv.Close()
		cancel()
		<-done
	})
	select {
	case <-listening:
	case <-time.After(10 * time.Second):
		e.t.Fatal("replica listener did not start")
	}
	r.wsURL = "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
	return r
}

func (r *replica) dial(t *testing.T, c *caller, host string) *websocket.Conn {
	t.Helper()
	h := http.Header{"Origin": {"https://" + host}}
	h.Set("Cookie", signin.CookieName+"="+c.cookie)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, r.wsURL, &websocket.DialOptions{Host: host, HTTPHeader: h})
	require.NoError(t, err)
	t.Cleanup(func() { ws.CloseNow() })
	require.Equal(t, "hello", readMsg(t, ws)["type"])
	return ws
}

// TestChatAcrossReplicas: a message sent through replica 1 (REST, then
// its socket) reaches the patient's socket on replica 2 as chat.message,
// and the body is fetchable there over the socket.
func TestChatAcrossReplicas(t *testing.T) {
	e := newEnv(t)
	e.live()
	two := e.newReplica()
	f := e.clinic()
	id, patient := e.chatting(f)
	patientWS := two.dial(t, patient, patientHost)
	doctorWS := e.dial(f.doctorIn, doctorHost)

	res, ack := e.send(f.doctorIn, doctorHost, staffPath(id), "d-1", "From replica one")
	require.Equal(t, 200, res.status)
	d := waitMsg(t, patientWS, consultation.EventChatMessage)
	assert.Equal(t, id, d["consultation_id"])
	assert.Equal(t, float64(ack.Seq), d["seq"])
	assert.Nil(t, d["text"], "events carry ids only")

	sendWS(t, doctorWS, map[string]any{"type": "chat.send", "id": "w1",
		"data": map[string]string{"consultation_id": id, "key": "d-2", "text": "Over the socket"}})
	assert.Equal(t, float64(2), waitEnvelope(t, doctorWS, consultationapi.TypeChatAck)["data"].(map[string]any)["seq"])
	d = waitMsg(t, patientWS, consultation.EventChatMessage)
	assert.Equal(t, float64(2), d["seq"])

	sendWS(t, patientWS, map[string]any{"type": "chat.sync", "id": "s", "data": map[string]any{"after": 0}})
	batch := waitEnvelope(t, patientWS, consultationapi.TypeChatBatch)["data"].(map[string]any)
	msgs := batch["messages"].([]any)
	require.Len(t, msgs, 2)
	assert.Equal(t, "From replica one", msgs[0].(map[string]any)["text"])
	assert.Equal(t, "Over the socket", msgs[1].(map[string]any)["text"])

	// The patient answers through replica 2; the doctor on replica 1 hears.
	sendWS(t, patientWS, map[string]any{"type": "chat.send", "id": "p1", "data": map[string]string{"key": "p-1", "text": "Hi"}})
	assert.Equal(t, float64(3), waitEnvelope(t, patientWS, consultationapi.TypeChatAck)["data"].(map[string]any)["seq"])
	for {
		d = waitMsg(t, doctorWS, consultation.EventChatMessage)
		if d["seq"] == float64(3) {
			break
		}
	}
}

// sinkLog records a listener's chat events and resyncs.
type sinkLog struct {
	mu      sync.Mutex
	seqs    map[int64]bool
	resyncs int
}

func (s *sinkLog) Deliver(ev events.Event) {
	if ev.Type != consultation.EventChatMessage {
		return
	}
	var d struct{ Seq int64 }
	_ = json.Unmarshal(ev.Data, &d)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seqs[d.Seq] = true
}

func (s *sinkLog) Resync() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resyncs++
}

func (s *sinkLog) state() (int, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.seqs), s.resyncs
}

// TestChatNoLoss is the database half of the no-loss test (the
// whole of it, over sockets and two replicas, is
// TestChatNoLossAcrossReplicas): three clients send 200 messages each
// through the service; about one send in five is
// repeated with the same key (a lost ack), and a failed send is retried
// with its key until acked. Midway a replica's listening connection and
// every pooled connection are killed with pg_terminate_backend. Then:
// every acked message is stored exactly once under its ack, numbers run
// 1..600 without gaps, all clients read the same ordered history, and the
// listener resynced and heard messages after reconnecting.
func TestChatNoLoss(t *testing.T) {
	const clients, perClient = 3, 200
	e := newEnv(t)
	f := e.clinic()
	id, patient := e.chatting(f)
	pp, err := e.svc.ParticipantPrincipal(t.Context(), patient.cookie)
	require.NoError(t, err)
	doctor := authz.Principal{Kind: "user", ID: f.doctorInUser.ID, UserID: f.doctorInUser.ID, Role: authz.RoleDoctor,
		QueueIDs: []string{f.queueID}}
	principals := []authz.Principal{pp, doctor, pp}
	actors := []consultation.Actor{{Type: audit.ActorParticipant, ID: pp.ID},
		{Type: audit.ActorUser, ID: doctor.UserID, UserID: doctor.UserID}, {Type: audit.ActorParticipant, ID: pp.ID}}

	// A replica's listener, named so that it can be killed.
	sink := &sinkLog{seqs: map[int64]bool{}}
	cfg := e.pool.Config().ConnConfig.Copy()
	cfg.RuntimeParams["application_name"] = "hcw-chat-listener"
	var listens atomic.Int32
	l := events.NewListener(events.ListenerParams{ConnConfig: cfg, Sink: sink, MinBackoff: 10 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), OnListen: func() { listens.Add(1) }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = l.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	require.Eventually(t, func() bool { return listens.Load() == 1 }, 10*time.Second, 10*time.Millisecond)

	acks := make([]map[string]consultation.Ack, clients)
	var sent atomic.Int32
	var retries atomic.Int32
	var wg sync.WaitGroup
	for c := range clients {
		acks[c] = map[string]consultation.Ack{}
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(c), 7))
			for i := range perClient {
				key := fmt.Sprintf("c%d-%d", c, i)
				text := fmt.Sprintf("client %d message %d", c, i)
				var ack consultation.Ack
				deadline := time.Now().Add(15 * time.Second)
				for {
					a, err := e.svc.SendMessage(context.Background(), principals[c], actors[c], id, key, text)
					if err == nil {
						ack = a
						break
					}
					retries.Add(1)
					if time.Now().After(deadline) {
						t.Errorf("client %d: %s never acked: %v", c, key, err)
						return
					}
					time.Sleep(5 * time.Millisecond)
				}
				if rng.IntN(5) == 0 { // the ack was lost: send again
					for {
						again, err := e.svc.SendMessage(context.Background(), principals[c], actors[c], id, key, text)
						if err != nil {
							retries.Add(1)
							continue
						}
						if again.Seq != ack.Seq || again.ID != ack.ID || !again.Duplicate {
							t.Errorf("client %d: resend of %s got %+v, first %+v", c, key, again, ack)
						}
						break
					}
				}
				acks[c][key] = ack
				sent.Add(1)
			}
		})
	}
	// Midway, kill the listener's connection and every pooled one.
	require.Eventually(t, func() bool { return sent.Load() >= clients*perClient/2 }, 20*time.Second, time.Millisecond)
	var killed int
	require.NoError(t, e.pool.QueryRow(context.Background(), `
		SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid()
		  AND (application_name = 'hcw-chat-listener' OR state IS NOT NULL)`).Scan(&killed))
	require.Positive(t, killed)
	wg.Wait()
	require.False(t, t.Failed())
	t.Logf("retries after errors: %d", retries.Load())

	// Stored exactly once, under its ack.
	type stored struct {
		Seq int64
		ID  string
	}
	rows, err := e.pool.Query(context.Background(), `SELECT client_key, seq, id::text FROM messages WHERE consultation_id = $1 ORDER BY seq`, id)
	require.NoError(t, err)
	byKey := map[string][]stored{}
	var seqs []int64
	for rows.Next() {
		var k string
		var s stored
		require.NoError(t, rows.Scan(&k, &s.Seq, &s.ID))
		byKey[k] = append(byKey[k], s)
		seqs = append(seqs, s.Seq)
	}
	require.NoError(t, rows.Err())
	require.Len(t, seqs, clients*perClient)
	for i, s := range seqs {
		require.Equal(t, int64(i+1), s, "no gaps, no duplicates")
	}
	for c := range clients {
		for key, a := range acks[c] {
			// Keys are unique across clients here, so one row per key.
			require.Equal(t, []stored{{a.Seq, a.ID}}, byKey[key], key)
		}
	}

	// Every client reads the same ordered history, page by page.
	var histories [][]consultation.Message
	for c := range clients {
		var all []consultation.Message
		var after int64
		for {
			page, err := e.svc.Messages(context.Background(), principals[c], actors[c], id, after, 250)
			require.NoError(t, err)
			all = append(all, page.Messages...)
			if !page.More {
				break
			}
			after = page.Messages[len(page.Messages)-1].Seq
		}
		require.Len(t, all, clients*perClient)
		histories = append(histories, all)
	}
	for c := 1; c < clients; c++ {
		require.Equal(t, histories[0], histories[c])
	}
	for i, m := range histories[0] {
		require.Equal(t, int64(i+1), m.Seq)
		var cl, n int
		_, err := fmt.Sscanf(m.Key, "c%d-%d", &cl, &n)
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf("client %d message %d", cl, n), m.Text)
	}

	// The listener came back, resynced, and hears new messages.
	require.Eventually(t, func() bool { _, r := sink.state(); return r >= 1 }, 10*time.Second, 10*time.Millisecond)
	a, err := e.svc.SendMessage(context.Background(), doctor, actors[1], id, "after", "after the outage")
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		sink.mu.Lock()
		defer sink.mu.Unlock()
		return sink.seqs[a.Seq]
	}, 10*time.Second, 10*time.Millisecond)
}

// TestChatConcurrentSenders: three senders post 100 messages each at once
// through the REST API; the numbers are 1..300 without gaps or
// duplicates and every ack names its stored row.
func TestChatConcurrentSenders(t *testing.T) {
	e := newEnv(t)
	f := e.clinic()
	id, patient := e.chatting(f)
	type sender struct {
		c          *caller
		host, path string
	}
	senders := []sender{{patient, patientHost, patientPath(id)}, {f.doctorIn, doctorHost, staffPath(id)}, {patient, patientHost, patientPath(id)}}
	acks := make([][]ackView, len(senders))
	var wg sync.WaitGroup
	for i, s := range senders {
		wg.Go(func() {
			for n := range 100 {
				res, a := e.send(s.c, s.host, s.path, fmt.Sprintf("s%d-%d", i, n), "text")
				if res.status != 200 {
					t.Errorf("sender %d: %d %s", i, res.status, res.body)
					return
				}
				acks[i] = append(acks[i], a)
			}
		})
	}
	wg.Wait()
	require.False(t, t.Failed())
	stored := map[int64]string{}
	rows, err := e.pool.Query(t.Context(), `SELECT seq, id::text FROM messages WHERE consultation_id = $1`, id)
	require.NoError(t, err)
	for rows.Next() {
		var seq int64
		var mid string
		require.NoError(t, rows.Scan(&seq, &mid))
		stored[seq] = mid
	}
	require.NoError(t, rows.Err())
	require.Len(t, stored, 300)
	for seq := int64(1); seq <= 300; seq++ {
		require.Contains(t, stored, seq)
	}
	for _, list := range acks {
		for _, a := range list {
			assert.Equal(t, stored[a.Seq], a.ID)
		}
	}
}
