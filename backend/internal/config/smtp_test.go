package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/backend/internal/config"
	"github.com/hcw-home/hcw/backend/internal/mail"
)

func TestSMTPOffByDefault(t *testing.T) {
	o, err := config.Parse(env(nil))
	require.NoError(t, err)
	assert.False(t, o.MailEnabled())
	assert.Empty(t, o.SMTP.Host)
	assert.Equal(t, 587, o.SMTP.Port)
	assert.Equal(t, mail.TLSStartTLS, o.SMTP.TLSPolicy)
	assert.Equal(t, 10*time.Second, o.SMTP.Timeout)
}

func TestSMTPValues(t *testing.T) {
	o, err := config.Parse(env(map[string]string{
		"HCW_SMTP_HOST":     "Smtp.Example.org",
		"HCW_SMTP_PORT":     "2525",
		"HCW_SMTP_USERNAME": "hcw",
		"HCW_SMTP_PASSWORD": "p@ss word",
		"HCW_SMTP_FROM":     `"HCW@Home" <noreply@example.org>`,
		"HCW_SMTP_TLS":      "none",
		"HCW_SMTP_TIMEOUT":  "30s",
	}))
	require.NoError(t, err)
	assert.True(t, o.MailEnabled())
	assert.Equal(t, mail.Params{
		Host: "smtp.example.org", Port: 2525, Username: "hcw", Password: "p@ss word",
		From: `"HCW@Home" <noreply@example.org>`, TLSPolicy: mail.TLSNone, Timeout: 30 * time.Second,
	}, o.SMTP)

	// The result is accepted by the sender as it is.
	_, err = mail.NewSMTP(o.SMTP)
	require.NoError(t, err)
}

func TestSMTPImplicitTLSDefaultsTo465(t *testing.T) {
	o, err := config.Parse(env(map[string]string{
		"HCW_SMTP_HOST": "10.0.0.25", "HCW_SMTP_FROM": "noreply@example.org", "HCW_SMTP_TLS": "TLS",
	}))
	require.NoError(t, err)
	assert.Equal(t, 465, o.SMTP.Port)
	assert.Equal(t, mail.TLSImplicit, o.SMTP.TLSPolicy)
}

func TestSMTPPasswordFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "smtp_password")
	require.NoError(t, os.WriteFile(path, []byte("from-file\n"), 0o600))
	o, err := config.Parse(env(map[string]string{
		"HCW_SMTP_HOST": "mailcatcher", "HCW_SMTP_FROM": "noreply@example.org",
		"HCW_SMTP_USERNAME": "hcw", "HCW_SMTP_PASSWORD_FILE": path,
	}))
	require.NoError(t, err)
	assert.Equal(t, "from-file", o.SMTP.Password)
}

func TestSMTPInvalid(t *testing.T) {
	host := map[string]string{"HCW_SMTP_HOST": "smtp.example.org", "HCW_SMTP_FROM": "noreply@example.org"}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range host {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name    string
		env     map[string]string
		naming  string // the variable the one-line error must name
		secrets []string
	}{
		{"host with scheme", with(map[string]string{"HCW_SMTP_HOST": "smtp://mail.example.org"}), "HCW_SMTP_HOST", nil},
		{"host with port", with(map[string]string{"HCW_SMTP_HOST": "mail.example.org:587"}), "HCW_SMTP_HOST", nil},
		{"port not a number", with(map[string]string{"HCW_SMTP_PORT": "smtp"}), "HCW_SMTP_PORT", nil},
		{"port 0", with(map[string]string{"HCW_SMTP_PORT": "0"}), "HCW_SMTP_PORT", nil},
		{"port too big", with(map[string]string{"HCW_SMTP_PORT": "65536"}), "HCW_SMTP_PORT", nil},
		{"tls unknown", with(map[string]string{"HCW_SMTP_TLS": "ssl"}), "HCW_SMTP_TLS", nil},
		{"from missing", map[string]string{"HCW_SMTP_HOST": "smtp.example.org"}, "HCW_SMTP_FROM", nil},
		{"from not an address", with(map[string]string{"HCW_SMTP_FROM": "noreply"}), "HCW_SMTP_FROM", nil},
		{"from unquoted @ in name", with(map[string]string{"HCW_SMTP_FROM": "HCW@Home <noreply@example.org>"}), "HCW_SMTP_FROM", nil},
		{"from with header", with(map[string]string{"HCW_SMTP_FROM": "a@example.org\r\nBcc: x@y.org"}), "HCW_SMTP_FROM", nil},
		{"from bad even with mail off", map[string]string{"HCW_SMTP_FROM": "noreply"}, "HCW_SMTP_FROM", nil},
		{"timeout not a duration", with(map[string]string{"HCW_SMTP_TIMEOUT": "10"}), "HCW_SMTP_TIMEOUT", nil},
		{"timeout negative", with(map[string]string{"HCW_SMTP_TIMEOUT": "-1s"}), "HCW_SMTP_TIMEOUT", nil},
		{"timeout too long", with(map[string]string{"HCW_SMTP_TIMEOUT": "1h"}), "HCW_SMTP_TIMEOUT", nil},
		{"password without username", with(map[string]string{"HCW_SMTP_PASSWORD": "hunter2"}), "HCW_SMTP_USERNAME", []string{"hunter2"}},
		{"password and file", with(map[string]string{"HCW_SMTP_USERNAME": "u", "HCW_SMTP_PASSWORD": "hunter2", "HCW_SMTP_PASSWORD_FILE": "/x"}), "HCW_SMTP_PASSWORD_FILE", []string{"hunter2"}},
		{"password file missing", with(map[string]string{"HCW_SMTP_USERNAME": "u", "HCW_SMTP_PASSWORD_FILE": "/nonexistent/smtp"}), "HCW_SMTP_PASSWORD_FILE", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Parse(env(tc.env))
			require.Error(t, err)
			msg := err.Error()
			assert.Contains(t, msg, tc.naming)
			assert.NotContains(t, msg, "\n", "one line")
			for _, s := range tc.secrets {
				assert.NotContains(t, msg, s, "a secret must not be echoed")
			}
			if !strings.Contains(tc.name, "file missing") {
				assert.ErrorIs(t, err, config.ErrInvalid)
			}
		})
	}
}
