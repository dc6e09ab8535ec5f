package consultationapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/backend/internal/consultation"
	"github.com/hcw-home/hcw/backend/internal/consultationapi"
	"github.com/hcw-home/hcw/backend/internal/events"
	"github.com/hcw-home/hcw/backend/internal/realtime"
)

// TestChatNoLossAcrossReplicas is the no-loss test at full scale,
// over WebSockets: two replicas (each its own pool, LISTEN connection,
// hub and HTTP server, one database); a doctor and two participants of
// one consultation each send 1,000 messages with their own idempotency
// keys, a window of them unacknowledged at any time. Mid-run the guest's
// connection is cut and restored; then replica a, which holds the doctor
// and the patient, is killed (every connection cut, its database sessions
// terminated), and they reconnect to b; then b's LISTEN connection is
// dropped (it comes back and asks its sockets to resync). After every
// reconnection a client resends what was not acknowledged, with the same
// keys, and asks chat.sync for what came after the last message it holds;
// a few acknowledged messages are also sent twice on purpose.
//
// Then: every acknowledged message is stored exactly once, under its
// ack; numbers run 1..3000 without gaps; every client's history (what
// chat.sync answered, asked for on live events, resync and reconnection)
// holds all of them, in order, and is the same as the others'; live
// chat.message events reached each socket in increasing order.
func TestChatNoLossAcrossReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("3 x 1,000 messages over two replicas (-short skips)")
	}
	const perClient = 1000
	const total = 3 * perClient
	e := newEnv(t)
	f := e.clinic()
	id, patient := e.chatting(f)
	_, token := e.addParticipant(f.doctorIn, id, map[string]any{"role": "guest"})
	res, guest := e.redeem(token)
	require.Equal(t, 200, res.status, string(res.body))

	// Lift the per-socket message limit (20/s): this measures delivery,
	// not the limiter.
	a := e.startProcess("noloss-a", processOptions{InboundRate: 100000})
	b := e.startProcess("noloss-b", processOptions{InboundRate: 100000})
	replicas := []*process{a, b}
	prog := &chatProgress{total: total}
	clients := []*chatClient{
		newChatClient("doctor", doctorHost, f.doctorIn.cookie, id, "d", perClient, 0),
		newChatClient("patient", patientHost, patient.cookie, "", "p", perClient, 0),
		newChatClient("guest", patientHost, guest.cookie, "", "g", perClient, 1),
	}

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Second)
	defer cancel()
	start := time.Now()
	errs := make(chan error, len(clients))
	for _, c := range clients {
		go func() { errs <- c.run(ctx, replicas, prog) }()
	}
	waitAcked := func(n int64) {
		t.Helper()
		for prog.acked.Load() < n {
			if ctx.Err() != nil {
				t.Fatalf("only %d of %d messages acknowledged", prog.acked.Load(), n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	waitAcked(total / 3)
	clients[2].cutConnection()
	waitAcked(total / 2)
	a.kill(e)
	killedAt := prog.acked.Load()
	waitAcked(2 * total / 3)
	b.dropListener(t, e)
	for range clients {
		require.NoError(t, <-errs)
	}
	elapsed := time.Since(start)

	// Stored exactly once, under its ack; numbered 1..total.
	type row struct {
		Seq             int64
		ID, Key, Sender string
	}
	rows, err := e.pool.Query(t.Context(), `
		SELECT seq, id::text, client_key, coalesce(sender_participant_id, sender_user_id)::text
		FROM messages WHERE consultation_id = $1 ORDER BY seq`, id)
	require.NoError(t, err)
	byKey := map[string]int{}
	stored := map[string]ackView{}
	var n int64
	for rows.Next() {
		var r row
		require.NoError(t, rows.Scan(&r.Seq, &r.ID, &r.Key, &r.Sender))
		n++
		require.Equal(t, n, r.Seq, "numbers without gaps or duplicates")
		byKey[r.Key]++
		stored[r.Key] = ackView{Key: r.Key, Seq: r.Seq, ID: r.ID}
	}
	require.NoError(t, rows.Err())
	require.Equal(t, int64(total), n)
	for key, count := range byKey {
		require.Equal(t, 1, count, "key %s stored once", key)
	}
	for _, c := range clients {
		require.Len(t, c.acks, perClient, c.name)
		for key, ack := range c.acks {
			require.Equal(t, stored[key].Seq, ack.Seq, key)
			require.Equal(t, stored[key].ID, ack.ID, key)
		}
	}

	// Every client holds the same ordered history, which is what is
	// stored.
	want := clients[0].historyList()
	require.Len(t, want, total)
	for i, m := range want {
		require.Equal(t, int64(i+1), m.Seq)
		require.Equal(t, stored[m.Key].ID, m.ID)
		require.Equal(t, "message "+m.Key, m.Text)
	}
	for _, c := range clients[1:] {
		require.Equal(t, want, c.historyList(), c.name)
	}

	var resends, duplicates, syncs, resyncs int
	for _, c := range clients {
		assert.GreaterOrEqual(t, c.connections, 2, "%s reconnected", c.name)
		resends, duplicates, syncs, resyncs = resends+c.resends, duplicates+c.duplicates, syncs+c.syncs, resyncs+c.resyncs
		t.Logf("%s: %d connections, %d resends after reconnecting (%d of them stored before: ack lost), %d errors answered, %d syncs, %d resyncs heard, %d live events",
			c.name, c.connections, c.resends, c.recovered, c.errors, c.syncs, c.resyncs, c.live)
	}
	assert.Positive(t, duplicates, "acknowledged keys sent again got their first ack")
	t.Logf("%d messages in %s (%.0f/s); replica a killed at %d acked; %d resends, %d deliberate duplicates",
		total, elapsed.Round(time.Millisecond), float64(total)/elapsed.Seconds(), killedAt, resends, duplicates)
}

// chatProgress is what the clients have achieved together.
type chatProgress struct {
	total int64
	// acked counts distinct acknowledged keys.
	acked atomic.Int64
}

func (p *chatProgress) allAcked() bool { return p.acked.Load() >= p.total }

// chatWindow is how many sends a client leaves unacknowledged at most,
// unless told otherwise.
const chatWindow = 16

// chatClient is a chat client as the web app's store behaves: it sends
// with its own keys, resends what was not acknowledged after
// reconnecting, and fills its history with chat.sync from the last
// message it holds whenever a live event, a resync or a reconnection
// says there may be more.
type chatClient struct {
	name string
	web  *webClient
	// consultationID is named in data by staff sockets only.
	consultationID string
	prefix         string
	n              int
	// at is the replica it tries first.
	at     int
	cut    chan struct{}
	window int

	// Owned by run's goroutine.
	acks    map[string]ackView
	unacked []string
	next    int
	history map[int64]messageView
	// have: every seq up to it is in history.
	have, maxSeen                            int64
	connections, resends, duplicates, errors int
	syncs, resyncs, live                     int
	// recovered counts resends stored before the reconnection: the
	// message had been committed, only its ack was lost.
	recovered int
	// dupQueue holds acknowledged keys to send once more.
	dupQueue []string
	fatal    error
	// sentAt and latencies time each key's first send to its first ack.
	sentAt    map[string]time.Time
	latencies []time.Duration
}

func newChatClient(name, host, cookie, consultationID, prefix string, n, at int) *chatClient {
	return &chatClient{name: name, web: newWebClient(host, cookie), consultationID: consultationID, prefix: prefix,
		n: n, at: at, cut: make(chan struct{}, 1), window: chatWindow, acks: map[string]ackView{}, history: map[int64]messageView{},
		sentAt: map[string]time.Time{}}
}

func (c *chatClient) key(i int) string { return fmt.Sprintf("%s-%04d", c.prefix, i) }

// cutConnection drops the client's connection abruptly (no close
// handshake); it reconnects shortly after, as after a network cut.
func (c *chatClient) cutConnection() { c.cut <- struct{}{} }

func (c *chatClient) historyList() []messageView {
	out := make([]messageView, 0, len(c.history))
	for seq := int64(1); seq <= int64(len(c.history)); seq++ {
		m, ok := c.history[seq]
		if !ok {
			break
		}
		out = append(out, m)
	}
	return out
}

var errConnectionLost = errors.New("connection lost")

// run connects (to the replica it last used, else the next one) until
// every client's messages are acknowledged and its history is complete.
func (c *chatClient) run(ctx context.Context, replicas []*process, prog *chatProgress) error {
	for {
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w (%d acked, history up to %d)", c.name, ctx.Err(), len(c.acks), c.have)
		}
		dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		ws, err := c.web.dial(dctx, replicas[c.at])
		cancel()
		if err != nil {
			c.at = (c.at + 1) % len(replicas)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		c.connections++
		finished, err := c.session(ctx, ws, prog)
		if c.fatal != nil {
			return fmt.Errorf("%s: %w", c.name, c.fatal)
		}
		if finished {
			return nil
		}
		if errors.Is(err, errCut) {
			time.Sleep(100 * time.Millisecond) // the network is back
		}
	}
}

var errCut = errors.New("connection cut")

type chatInbound struct {
	Type string          `json:"type"`
	ID   string          `json:"id"`
	Data json.RawMessage `json:"data"`
}

// session is one connection's life; it returns true once the client is
// done.
func (c *chatClient) session(ctx context.Context, ws *websocket.Conn, prog *chatProgress) (bool, error) {
	in := make(chan chatInbound, 64)
	stop := make(chan struct{})
	defer func() { close(stop); ws.CloseNow() }()
	go func() {
		defer close(in)
		for {
			_, b, err := ws.Read(ctx)
			if err != nil {
				return
			}
			var m chatInbound
			if json.Unmarshal(b, &m) != nil {
				m = chatInbound{Type: "undecodable", Data: json.RawMessage(fmt.Sprintf("%q", b))}
			}
			select {
			case in <- m:
			case <-stop:
				return
			}
		}
	}()
	write := func(typ, id string, data map[string]any) error {
		if c.consultationID != "" {
			data["consultation_id"] = c.consultationID
		}
		b, _ := json.Marshal(map[string]any{"type": typ, "id": id, "data": data})
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return ws.Write(wctx, websocket.MessageText, b)
	}
	syncing, needSync := false, false
	var syncAfter int64
	sync := func() error {
		syncing, needSync, syncAfter = true, false, c.have
		c.syncs++
		return write(consultationapi.TypeChatSync, fmt.Sprintf("sync-%d", c.syncs),
			map[string]any{"after": c.have, "limit": consultation.MaxMessagePage})
	}
	// What the last connection left unacknowledged goes again first,
	// under the same keys.
	resend := append([]string(nil), c.unacked...)
	c.resends += len(resend)
	resent := map[string]bool{}
	for _, k := range resend {
		resent[k] = true
	}
	connected := time.Now()
	outstanding := map[string]bool{}
	var lastLive int64
	if err := sync(); err != nil {
		return false, err
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		for len(outstanding) < c.window {
			var key string
			switch {
			case len(resend) > 0:
				key, resend = resend[0], resend[1:]
			case len(c.dupQueue) > 0:
				key, c.dupQueue = c.dupQueue[0], c.dupQueue[1:]
			case c.next < c.n:
				key = c.key(c.next)
				c.next++
				c.unacked = append(c.unacked, key)
				c.sentAt[key] = time.Now()
			}
			if key == "" {
				break
			}
			outstanding[key] = true
			if err := write(consultationapi.TypeChatSend, key, map[string]any{"key": key, "text": "message " + key}); err != nil {
				return false, err
			}
		}
		if prog.allAcked() && len(outstanding) == 0 && !syncing {
			if c.have >= prog.total {
				return true, nil
			}
			needSync = true
		}
		if needSync && !syncing {
			if err := sync(); err != nil {
				return false, err
			}
		}
		var m chatInbound
		select {
		case <-c.cut:
			return false, errCut
		case <-tick.C:
			continue
		case got, ok := <-in:
			if !ok {
				return false, errConnectionLost
			}
			m = got
		}
		switch m.Type {
		case "undecodable":
			return false, c.fail(fmt.Errorf("undecodable message %s", m.Data))
		case consultationapi.TypeChatAck:
			var a ackView
			if err := json.Unmarshal(m.Data, &a); err != nil || a.Key != m.ID || !outstanding[a.Key] || a.Seq < 1 || a.ID == "" {
				return false, c.fail(fmt.Errorf("unexpected ack %s", m.Data))
			}
			delete(outstanding, a.Key)
			if first, ok := c.acks[a.Key]; ok {
				if first.Seq != a.Seq || first.ID != a.ID {
					return false, c.fail(fmt.Errorf("key %s acked as %d then %d", a.Key, first.Seq, a.Seq))
				}
				c.duplicates++
				continue
			}
			c.acks[a.Key] = a
			c.latencies = append(c.latencies, time.Since(c.sentAt[a.Key]))
			if resent[a.Key] && a.CreatedAt.Before(connected) {
				c.recovered++ // stored before the cut: only the ack was lost
			}
			c.unacked = remove(c.unacked, a.Key)
			prog.acked.Add(1)
			if len(c.acks)%97 == 0 { // as if this ack were lost
				c.dupQueue = append(c.dupQueue, a.Key)
			}
		case realtime.TypeError:
			c.errors++
			if outstanding[m.ID] {
				delete(outstanding, m.ID)
				resend = append([]string{m.ID}, resend...)
			} else if syncing {
				syncing, needSync = false, true
			}
		case events.TypeChatMessage:
			var d struct{ Seq int64 }
			if err := json.Unmarshal(m.Data, &d); err != nil || d.Seq <= lastLive {
				return false, c.fail(fmt.Errorf("live event %s after seq %d", m.Data, lastLive))
			}
			c.live++
			lastLive, c.maxSeen = d.Seq, max(c.maxSeen, d.Seq)
			needSync = needSync || d.Seq > c.have
		case events.TypeResync:
			c.resyncs++
			needSync = true
		case consultationapi.TypeChatBatch:
			var batch messageListView
			if err := json.Unmarshal(m.Data, &batch); err != nil {
				return false, c.fail(err)
			}
			for i, msg := range batch.Messages {
				if msg.Seq != syncAfter+int64(i)+1 {
					return false, c.fail(fmt.Errorf("chat.batch after %d: seq %d at %d", syncAfter, msg.Seq, i))
				}
				if old, ok := c.history[msg.Seq]; ok && old != msg {
					return false, c.fail(fmt.Errorf("seq %d changed: %+v then %+v", msg.Seq, old, msg))
				}
				c.history[msg.Seq] = msg
				c.have = msg.Seq
			}
			syncing = false
			needSync = needSync || batch.More || c.maxSeen > c.have
		}
	}
}

// fail records a broken promise of the server; run stops on it.
func (c *chatClient) fail(err error) error {
	if c.fatal == nil {
		c.fatal = err
	}
	return err
}

func remove(keys []string, key string) []string {
	for i, k := range keys {
		if k == key {
			return append(keys[:i], keys[i+1:]...)
		}
	}
	return keys
}
