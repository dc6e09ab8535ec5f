package e2e

import (
	"context"
	"testing"
)

// TestSecretsOnlyWhereNeeded checks that each generated secret is mounted
// into the services that use it and no others.
func TestSecretsOnlyWhereNeeded(t *testing.T) {
	files := map[string]string{
		"db":      "/run/secrets/db/db_password",
		"turn":    "/run/secrets/turn/turn_secret",
		"backend": "/run/secrets/backend/data_key",
		"grant":   "/run/secrets/backend/grant_signing_key.pem",
		"media":   "/run/secrets/media/media_node_secret",
	}
	visible := map[string][]string{
		"postgres": {"db"},
		"backend":  {"db", "turn", "backend", "grant", "media"},
		"turn":     {"turn"},
		"edge":     {"media"},
		"media":    {"media"},
		"media2":   {"media"},
	}
	for svc, want := range visible {
		allowed := map[string]bool{}
		for _, s := range want {
			allowed[s] = true
		}
		for secret, path := range files {
			r, err := stack.container(t, svc).CopyFileFromContainer(context.Background(), path)
			if err == nil {
				r.Close()
			}
			switch {
			case allowed[secret] && err != nil:
				t.Errorf("%s cannot read its %s secret %s: %v", svc, secret, path, err)
			case !allowed[secret] && err == nil:
				t.Errorf("%s can read the %s secret %s", svc, secret, path)
			}
		}
	}
}
