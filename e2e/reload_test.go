package e2e

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	tcexec "github.com/testcontainers/testcontainers-go/exec"
)

// TestEdgeReloadKeepsWebSockets reloads the edge's configuration while a
// WebSocket is open through it: stream_close_delay keeps the socket (a
// call's signalling) alive instead of cutting it.
func TestEdgeReloadKeepsWebSockets(t *testing.T) {
	conn, _, err := dialWSWithCookie(t, "admin.localhost", adminSession(t))
	if err != nil {
		t.Fatalf("websocket: %v", err)
	}
	defer conn.CloseNow()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var hello envelope
	if err := wsjson.Read(ctx, conn, &hello); err != nil {
		t.Fatal(err)
	}

	code, out, err := stack.container(t, "edge").Exec(ctx,
		[]string{"/edge", "reload", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile", "--force"}, tcexec.Multiplexed())
	if err != nil {
		t.Fatal(err)
	}
	if code != 0 {
		b, _ := io.ReadAll(out)
		t.Fatalf("edge reload: exit %d: %s", code, b)
	}

	// The old socket still carries messages both ways after the reload.
	if err := wsjson.Write(ctx, conn, envelope{Type: "ping", ID: "after-reload"}); err != nil {
		t.Fatalf("write after reload: %v", err)
	}
	var pong envelope
	if err := wsjson.Read(ctx, conn, &pong); err != nil || pong.ID != "after-reload" {
		t.Fatalf("read after reload: %+v, %v", pong, err)
	}
	conn.Close(websocket.StatusNormalClosure, "")
}
