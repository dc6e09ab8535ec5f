package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
)

// eventReader collects a socket's envelopes so a test can wait for a type.
type eventReader struct {
	conn   *websocket.Conn
	events chan envelope
	closed chan error
}

func readEvents(conn *websocket.Conn) *eventReader {
	r := &eventReader{conn: conn, events: make(chan envelope, 64), closed: make(chan error, 1)}
	go func() {
		for {
			var e envelope
			if err := wsjson.Read(context.Background(), conn, &e); err != nil {
				r.closed <- err
				return
			}
			r.events <- e
		}
	}()
	return r
}

// waitFor returns the first event of type typ within timeout.
func (r *eventReader) waitFor(t testing.TB, typ string, timeout time.Duration) envelope {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case e := <-r.events:
			if e.Type == typ {
				return e
			}
		case err := <-r.closed:
			t.Fatalf("socket closed while waiting for %s: %v", typ, err)
		case <-deadline:
			t.Fatalf("no %s event within %s", typ, timeout)
		}
	}
}

var inviteLink = regexp.MustCompile(`https://patient\.localhost/i/([A-Za-z0-9_-]+)`)

func mustJSON(t testing.TB, status int, body []byte, want int, v any) {
	t.Helper()
	if status != want {
		t.Fatalf("status %d, want %d: %s", status, want, body)
	}
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("%v: %s", err, body)
		}
	}
}

// TestConsultationLoop is the reference system's core loop through the
// edge: a doctor invites by email; the patient reads the mail, redeems the
// link and waits; the doctor sees the patient appear live and accepts; they
// chat both ways; the doctor closes; the patient's socket is closed and
// their session refused.
func TestConsultationLoop(t *testing.T) {
	admin := adminSession(t)
	mb := newMailbox(t)

	// A queue and a doctor in it.
	var queue struct{ ID string }
	status, body, _ := apiCall(t, admin, "admin.localhost", "POST", "/api/v1/admin/queues", map[string]any{"name": fmt.Sprintf("General %d", time.Now().UnixNano())})
	mustJSON(t, status, body, 201, &queue)
	email := fmt.Sprintf("dr.loop%d@clinic.example", time.Now().UnixNano())
	var created struct {
		User     struct{ ID string } `json:"user"`
		SetupURL string              `json:"setup_url"`
	}
	status, body, _ = apiCall(t, admin, "admin.localhost", "POST", "/api/v1/admin/users", map[string]any{
		"email": email, "first_name": "Gregory", "last_name": "Loop", "role": "doctor"})
	mustJSON(t, status, body, 201, &created)
	status, body, _ = apiCall(t, admin, "admin.localhost", "PUT", "/api/v1/admin/queues/"+queue.ID+"/members", map[string]any{"user_ids": []string{created.User.ID}})
	if status != 200 && status != 204 {
		t.Fatalf("set members: %d %s", status, body)
	}
	doctor := staffSignIn(t, "doctor.localhost", email, setupLink.FindStringSubmatch(created.SetupURL)[1])

	// The doctor watches the queue live.
	dconn, _, err := dialWSWithCookie(t, "doctor.localhost", doctor)
	if err != nil {
		t.Fatalf("doctor socket: %v", err)
	}
	defer dconn.CloseNow()
	docEvents := readEvents(dconn)
	docEvents.waitFor(t, "hello", 10*time.Second)

	// An email invite.
	patientEmail := fmt.Sprintf("patient%d@example.net", time.Now().UnixNano())
	seen := mb.ids(t)
	var issued struct {
		Invite struct {
			ID             string `json:"id"`
			ConsultationID string `json:"consultation_id"`
		} `json:"invite"`
	}
	status, body, _ = apiCall(t, doctor, "doctor.localhost", "POST", "/api/v1/invites", map[string]any{
		"first_name": "Jane", "last_name": "Patient", "email": patientEmail, "language": "fr",
		"queue_id": queue.ID, "delivery": "email"})
	mustJSON(t, status, body, 201, &issued)
	if issued.Invite.ConsultationID == "" {
		t.Fatalf("invite without consultation: %s", body)
	}
	msg := mb.waitNew(t, seen, patientEmail, 30*time.Second)
	m := inviteLink.FindStringSubmatch(msg.Text)
	if m == nil {
		t.Fatalf("no invite link in the mail: %q", msg.Text)
	}

	// The patient opens the link: the page, then the redemption.
	resp, err := stack.client(t).Get(stack.url(t, "patient.localhost", "/i/"+m[1]))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	status, body, h := apiCall(t, nil, "patient.localhost", "POST", "/api/v1/invites/redeem", map[string]string{"token": m[1]})
	mustJSON(t, status, body, 200, nil)
	patient := sessionCookie(t, h)
	docEvents.waitFor(t, "consultation.pending", 10*time.Second)

	pconn, _, err := dialWSWithCookie(t, "patient.localhost", patient)
	if err != nil {
		t.Fatalf("patient socket: %v", err)
	}
	defer pconn.CloseNow()
	patEvents := readEvents(pconn)
	patEvents.waitFor(t, "hello", 10*time.Second)

	// The doctor sees the patient waiting, online.
	eventually(t, 10*time.Second, func() error {
		status, body, _ := apiCall(t, doctor, "doctor.localhost", "GET", "/api/v1/queues/"+queue.ID+"/consultations", nil)
		if status != 200 {
			return fmt.Errorf("waiting list: %d %s", status, body)
		}
		if !strings.Contains(string(body), issued.Invite.ConsultationID) || !strings.Contains(string(body), `"online":true`) {
			return fmt.Errorf("patient not listed online yet: %s", body)
		}
		return nil
	})

	// The doctor accepts; the patient hears it.
	status, body, _ = apiCall(t, doctor, "doctor.localhost", "POST", "/api/v1/consultations/"+issued.Invite.ConsultationID+"/accept", nil)
	mustJSON(t, status, body, 200, nil)
	patEvents.waitFor(t, "consultation.accepted", 10*time.Second)

	// They chat both ways; each side hears the other's message, and a
	// resend with the same key is the same message.
	cid := issued.Invite.ConsultationID
	var ack struct {
		Seq int64 `json:"seq"`
	}
	status, body, _ = apiCall(t, doctor, "doctor.localhost", "POST", "/api/v1/consultations/"+cid+"/messages", map[string]string{"key": "d-1", "text": "Bonjour, je suis le médecin."})
	if status != 200 && status != 201 {
		t.Fatalf("doctor message: %d %s", status, body)
	}
	json.Unmarshal(body, &ack)
	patEvents.waitFor(t, "chat.message", 10*time.Second)
	for range 2 { // the second is a resend after a lost ack
		status, body, _ = apiCall(t, patient, "patient.localhost", "POST", "/api/v1/participant/consultations/"+cid+"/messages", map[string]string{"key": "p-1", "text": "Bonjour docteur"})
		if status != 200 && status != 201 {
			t.Fatalf("patient message: %d %s", status, body)
		}
	}
	docEvents.waitFor(t, "chat.message", 10*time.Second)
	var history struct {
		Messages []struct {
			Seq  int64  `json:"seq"`
			Text string `json:"text"`
		} `json:"messages"`
	}
	status, body, _ = apiCall(t, patient, "patient.localhost", "GET", "/api/v1/participant/consultations/"+cid+"/messages?after=0", nil)
	mustJSON(t, status, body, 200, &history)
	if len(history.Messages) != 2 || history.Messages[0].Seq != ack.Seq || history.Messages[0].Text != "Bonjour, je suis le médecin." ||
		history.Messages[1].Seq != ack.Seq+1 || history.Messages[1].Text != "Bonjour docteur" {
		t.Fatalf("patient's history: %s", body)
	}
	status, body, _ = apiCall(t, doctor, "doctor.localhost", "GET", "/api/v1/consultations/"+cid+"/messages?after=0", nil)
	var docHistory struct {
		Messages []struct {
			Seq int64 `json:"seq"`
		} `json:"messages"`
	}
	mustJSON(t, status, body, 200, &docHistory)
	if len(docHistory.Messages) != 2 {
		t.Fatalf("doctor's history: %s", body)
	}

	// The doctor closes: the patient's socket closes and their session ends.
	status, body, _ = apiCall(t, doctor, "doctor.localhost", "POST", "/api/v1/consultations/"+issued.Invite.ConsultationID+"/close", nil)
	if status != 200 && status != 204 {
		t.Fatalf("close: %d %s", status, body)
	}
	select {
	case err := <-patEvents.closed:
		if websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
			t.Fatalf("patient socket ended with %v, want 1008", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the patient's socket was still open 10 s after the close")
	}
	if status, _, _ := apiCall(t, patient, "patient.localhost", "GET", "/api/v1/participant/me", nil); status != http.StatusUnauthorized {
		t.Fatalf("patient session after close: %d, want 401", status)
	}
	// The link no longer opens a session.
	status, body, _ = apiCall(t, nil, "patient.localhost", "POST", "/api/v1/invites/redeem", map[string]string{"token": m[1]})
	if status == 200 {
		t.Fatalf("a closed consultation's link still redeems: %s", body)
	}
}
