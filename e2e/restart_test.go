package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	tcexec "github.com/testcontainers/testcontainers-go/exec"
)

func psql(t testing.TB, sql string) string {
	t.Helper()
	out, err := tryPSQL(t, sql)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func tryPSQL(t testing.TB, sql string) (string, error) {
	code, out, err := stack.container(t, "postgres").Exec(context.Background(),
		[]string{"psql", "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-U", "hcw", "-d", "hcw", "-c", sql},
		tcexec.Multiplexed())
	if err != nil {
		return "", fmt.Errorf("psql: %w", err)
	}
	b, _ := io.ReadAll(out)
	if code != 0 {
		return "", fmt.Errorf("psql %q: exit %d: %s", sql, code, b)
	}
	return strings.TrimSpace(string(b)), nil
}

// TestDataSurvivesRestart writes a row, restarts the whole stack with
// `docker compose restart`, and reads it back. It also proves the secrets
// are generated once: the backend reconnects with the same password.
func TestDataSurvivesRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts the stack")
	}
	adminSession(t) // before the restart
	marker := fmt.Sprintf("marker-%d", time.Now().UnixNano())
	psql(t, "CREATE TABLE IF NOT EXISTS e2e_marker (v text PRIMARY KEY)")
	psql(t, "INSERT INTO e2e_marker VALUES ('"+marker+"')")
	dbPassword := stack.readFile(t, "postgres", "/run/secrets/db/db_password")

	args := []string{"compose"}
	for _, f := range stackFiles {
		args = append(args, "-f", f)
	}
	restart := exec.Command("docker", append(args, "-p", stack.project, "restart")...)
	restart.Env = os.Environ()
	for k, v := range stack.env {
		restart.Env = append(restart.Env, k+"="+v)
	}
	if out, err := restart.CombinedOutput(); err != nil {
		t.Fatalf("docker compose restart: %v\n%s", err, out)
	}

	eventually(t, 3*time.Minute, func() error {
		resp, err := stack.client(t).Get(stack.url(t, "doctor.localhost", "/api/v1/version"))
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("version: %s", resp.Status)
		}
		return nil
	})
	eventually(t, time.Minute, func() error {
		got, err := tryPSQL(t, "SELECT v FROM e2e_marker WHERE v = '"+marker+"'")
		if err != nil {
			return err
		}
		if got != marker {
			t.Fatalf("after restart: %q, want %q", got, marker)
		}
		return nil
	})
	if after := stack.readFile(t, "postgres", "/run/secrets/db/db_password"); !bytes.Equal(after, dbPassword) {
		t.Fatal("the database password was regenerated on restart")
	}
	// The backend is ready again (it reached the database with the kept
	// password), and the admin's session, a row in the database, survived:
	// a WebSocket with it gets through the edge.
	eventually(t, time.Minute, func() error {
		conn, _, err := dialWSWithCookie(t, "admin.localhost", adminSession(t))
		if err != nil {
			return err
		}
		conn.CloseNow()
		return nil
	})
}
