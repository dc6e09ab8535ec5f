package config

import (
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/hcw-home/hcw/backend/internal/mail"
)

// HCW_SMTP_*: the relay for outgoing mail (invitations, sign-in links).
// An empty HCW_SMTP_HOST turns mail off; the backend still starts and says
// so in its log.
const (
	EnvSMTPHost     = "HCW_SMTP_HOST"
	EnvSMTPPort     = "HCW_SMTP_PORT"
	EnvSMTPUsername = "HCW_SMTP_USERNAME"
	EnvSMTPPassword = "HCW_SMTP_PASSWORD"
	EnvSMTPFrom     = "HCW_SMTP_FROM"
	EnvSMTPTLS      = "HCW_SMTP_TLS"
	EnvSMTPTimeout  = "HCW_SMTP_TIMEOUT"

	// DefaultSMTPPort is the submission port (STARTTLS); with
	// HCW_SMTP_TLS=tls the default is DefaultSMTPSPort instead.
	DefaultSMTPPort    = 587
	DefaultSMTPSPort   = 465
	DefaultSMTPTLS     = mail.TLSStartTLS
	DefaultSMTPTimeout = mail.DefaultTimeout
	maxSMTPTimeout     = 5 * time.Minute
)

// smtp parses HCW_SMTP_*. Every variable is checked even when mail is off,
// so that a typo shows at once rather than on the day mail is turned on.
// The Logger of the result is left for the caller to set.
func (p parser) smtp() (mail.Params, error) {
	var sp mail.Params

	sp.Host = strings.ToLower(p.get(EnvSMTPHost))
	if sp.Host != "" && !isHostName(sp.Host) && net.ParseIP(sp.Host) == nil {
		return sp, invalidf("%s: %q is not a host name or IP address (no scheme or port; the port is %s)", EnvSMTPHost, sp.Host, EnvSMTPPort)
	}

	switch tls := strings.ToLower(p.get(EnvSMTPTLS)); tls {
	case "":
		sp.TLSPolicy = DefaultSMTPTLS
	case string(mail.TLSStartTLS), string(mail.TLSImplicit), string(mail.TLSNone):
		sp.TLSPolicy = mail.TLSPolicy(tls)
	default:
		return sp, invalidf("%s: %q is not one of starttls, tls, none", EnvSMTPTLS, tls)
	}

	sp.Port = DefaultSMTPPort
	if sp.TLSPolicy == mail.TLSImplicit {
		sp.Port = DefaultSMTPSPort
	}
	if v := p.get(EnvSMTPPort); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 65535 {
			return sp, invalidf("%s: %q is not a port number (1-65535)", EnvSMTPPort, v)
		}
		sp.Port = n
	}

	sp.Username = p.get(EnvSMTPUsername)
	password, err := p.secret(EnvSMTPPassword)
	if err != nil {
		return sp, err
	}
	sp.Password = password
	if sp.Password != "" && sp.Username == "" {
		return sp, invalidf("%s is set but %s is empty", EnvSMTPPassword, EnvSMTPUsername)
	}

	sp.From = p.get(EnvSMTPFrom)
	if sp.From != "" && mail.ParseAddress(sp.From) != nil {
		return sp, invalidf(`%s: %q is not an e-mail address such as noreply@example.org or "HCW@Home" <noreply@example.org>`, EnvSMTPFrom, sp.From)
	}
	if sp.Host != "" && sp.From == "" {
		return sp, invalidf("%s is required when %s is set", EnvSMTPFrom, EnvSMTPHost)
	}

	if sp.Timeout, err = p.positiveDuration(EnvSMTPTimeout, DefaultSMTPTimeout); err != nil {
		return sp, err
	}
	if sp.Timeout > maxSMTPTimeout {
		return sp, invalidf("%s: %s is longer than %s", EnvSMTPTimeout, sp.Timeout, maxSMTPTimeout)
	}
	return sp, nil
}

// MailEnabled reports whether an SMTP relay is configured.
func (o *Options) MailEnabled() bool { return o.SMTP.Host != "" }
