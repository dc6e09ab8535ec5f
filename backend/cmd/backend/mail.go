package main

import (
	"fmt"
	"log/slog"

	"github.com/hcw-home/hcw/backend/internal/config"
	"github.com/hcw-home/hcw/backend/internal/mail"
)

// newMailSender builds the mail sender from HCW_SMTP_* and says in the log
// whether mail is on. With no relay configured the backend runs without
// mail: invitations by e-mail fail with mail.ErrNotConfigured and the
// copied link remains. It never connects: a relay that is down at start-up
// shows on the first send, not as a start-up failure.
func newMailSender(cfg *config.Options, logger *slog.Logger) (mail.Sender, error) {
	if !cfg.MailEnabled() {
		logger.Warn("mail is off: " + config.EnvSMTPHost + " is not set; e-mail invitations are unavailable")
		return mail.Disabled{}, nil
	}
	p := cfg.SMTP
	p.Logger = logger
	s, err := mail.NewSMTP(p)
	if err != nil {
		return nil, fmt.Errorf("mail: %w", err)
	}
	logger.Info("mail is on", "smtp_host", p.Host, "smtp_port", p.Port, "smtp_tls", string(p.TLSPolicy), "smtp_auth", p.Username != "")
	return s, nil
}
