package e2e

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"

	tcexec "github.com/testcontainers/testcontainers-go/exec"
)

// TestAuditVerifyInTheRunningStack runs the operator's command, as in
// `docker compose exec backend /backend audit verify`.
func TestAuditVerifyInTheRunningStack(t *testing.T) {
	code, out, err := stack.container(t, "backend").Exec(context.Background(),
		[]string{"/backend", "audit", "verify"}, tcexec.Multiplexed())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(out)
	var res struct {
		Intact bool  `json:"intact"`
		Rows   int64 `json:"rows"`
	}
	line := strings.TrimSpace(string(b))
	if i := strings.LastIndexByte(line, '\n'); i >= 0 {
		line = line[i+1:]
	}
	if err := json.Unmarshal([]byte(line), &res); err != nil {
		t.Fatalf("audit verify printed %q: %v", b, err)
	}
	if code != 0 || !res.Intact {
		t.Fatalf("audit verify: exit %d, %s", code, b)
	}
	// Editing a row is refused by the database itself, not only by the
	// service's code.
	if _, err := tryPSQL(t, "UPDATE audit_events SET action = 'x'"); err == nil {
		t.Fatal("UPDATE on audit_events succeeded")
	}
}
