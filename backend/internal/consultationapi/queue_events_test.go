package consultationapi_test

import (
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/backend/internal/events"
)

// positionsUntilFence publishes a fence event to the consultation and
// returns the queue.position events its socket ws receives before it:
// events arrive in commit order, so the fence follows every event of the
// changes committed before it.
func positionsUntilFence(t *testing.T, e *env, ws *websocket.Conn, consultationID string) []float64 {
	t.Helper()
	require.NoError(t, events.PublishData(t.Context(), e.pool, "test.fence", nil, events.Topic(events.KindConsultation, consultationID)))
	var got []float64
	for {
		m := readMsg(t, ws)
		switch m["type"] {
		case "test.fence":
			return got
		case events.TypeQueuePosition:
			got = append(got, m["data"].(map[string]any)["position"].(float64))
		}
	}
}

// TestQueuePositionEvents: an arrival joins the end of the waiting list,
// so the staff hear queue.changed and those already waiting hear nothing;
// an arrival whose time sorts ahead of someone (a replica's clock behind
// the others') tells those behind it their new place; a departure from
// the head tells everyone behind it theirs.
func TestQueuePositionEvents(t *testing.T) {
	e := newEnv(t)
	e.live()
	f := e.clinic()
	tick := func(d time.Duration) { e.clock.set(e.clock.now().Add(d)) }
	c1, p1 := e.waiting(f, f.queueID, "First")
	tick(time.Second)
	c2, p2 := e.waiting(f, f.queueID, "Second")
	ws1, ws2 := e.dial(p1, patientHost), e.dial(p2, patientHost)
	doctorWS := e.dial(f.doctorIn, doctorHost)
	positions := func(ws *websocket.Conn, id string) []float64 { return positionsUntilFence(t, e, ws, id) }
	// A socket opened just after its arrival may still hear of it.
	positions(ws1, c1)
	positions(ws2, c2)

	tick(time.Second)
	c3, p3 := e.waiting(f, f.queueID, "Third")
	waitMsg(t, doctorWS, events.TypeQueueChanged)
	assert.Empty(t, positions(ws1, c1), "an arrival moves nobody ahead of it")
	assert.Empty(t, positions(ws2, c2))
	ws3 := e.dial(p3, patientHost)
	positions(ws3, c3)

	// Behind the others' clocks: ahead of the second and the third.
	tick(-1500 * time.Millisecond)
	c4, p4 := e.waiting(f, f.queueID, "Early")
	assert.Empty(t, positions(ws1, c1))
	assert.Equal(t, []float64{3}, positions(ws2, c2))
	assert.Equal(t, []float64{4}, positions(ws3, c3))
	ws4 := e.dial(p4, patientHost)
	positions(ws4, c4)

	tick(time.Minute)
	res := e.do(f.doctorIn, "POST", "/api/v1/consultations/"+c1+"/accept", nil)
	require.Equal(t, 200, res.status, string(res.body))
	assert.Equal(t, []float64{1}, positions(ws4, c4))
	assert.Equal(t, []float64{2}, positions(ws2, c2))
	assert.Equal(t, []float64{3}, positions(ws3, c3))
}
