package mail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	netmail "net/mail"
	"regexp"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// TLSPolicy says how the connection to the relay is protected.
type TLSPolicy string

// The TLS policies of HCW_SMTP_TLS.
const (
	// TLSStartTLS connects in plain text and requires STARTTLS (port 587);
	// a relay that does not offer it is an error, never a silent downgrade.
	TLSStartTLS TLSPolicy = "starttls"
	// TLSImplicit speaks TLS from the first byte (SMTPS, port 465).
	TLSImplicit TLSPolicy = "tls"
	// TLSNone never encrypts: only for a relay on a trusted network or a
	// development mail catcher.
	TLSNone TLSPolicy = "none"
)

// DefaultTimeout bounds one delivery (connect, dialogue and data) when
// Params.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// Params configure an SMTP sender.
type Params struct {
	// Host and Port of the relay.
	Host string
	Port int
	// Username and Password authenticate when Username is set. Over
	// TLSNone the password travels in clear (PLAIN): the operator chose so.
	Username, Password string
	// From is the sender address, e.g. `"HCW@Home" <noreply@example.org>` (a display name with @ must be quoted).
	From string
	// TLSPolicy is one of TLSStartTLS (the default when empty),
	// TLSImplicit, TLSNone.
	TLSPolicy TLSPolicy
	// Timeout bounds one delivery; DefaultTimeout when zero.
	Timeout time.Duration
	// HeloName is the name given in EHLO; the machine's host name when
	// empty.
	HeloName string
	// Logger receives one line per delivery (recipient domains, size,
	// outcome); slog.Default when nil.
	Logger *slog.Logger
}

// SMTP sends through an SMTP relay with github.com/wneessen/go-mail. It is
// safe for concurrent use: each Send opens its own connection.
type SMTP struct {
	p    Params
	from *netmail.Address
	log  *slog.Logger
}

// NewSMTP validates p and returns a sender. It does not connect: a relay
// that is down at start-up must not stop the appliance.
func NewSMTP(p Params) (*SMTP, error) {
	if p.Host == "" || strings.ContainsAny(p.Host, "/@ \r\n") {
		return nil, fmt.Errorf("%w: host %q is not a host name or IP address", ErrInvalidParams, p.Host)
	}
	if p.Port < 1 || p.Port > 65535 {
		return nil, fmt.Errorf("%w: port %d is not between 1 and 65535", ErrInvalidParams, p.Port)
	}
	from, err := parseAddress(p.From)
	if err != nil {
		return nil, fmt.Errorf("%w: from is not an e-mail address", ErrInvalidParams)
	}
	switch p.TLSPolicy {
	case "":
		p.TLSPolicy = TLSStartTLS
	case TLSStartTLS, TLSImplicit, TLSNone:
	default:
		return nil, fmt.Errorf("%w: TLS policy %q is not one of starttls, tls, none", ErrInvalidParams, p.TLSPolicy)
	}
	if p.Password != "" && p.Username == "" {
		return nil, fmt.Errorf("%w: a password without a username", ErrInvalidParams)
	}
	if p.Timeout < 0 {
		return nil, fmt.Errorf("%w: negative timeout", ErrInvalidParams)
	}
	if p.Timeout == 0 {
		p.Timeout = DefaultTimeout
	}
	if p.Logger == nil {
		p.Logger = slog.Default()
	}
	return &SMTP{p: p, from: from, log: p.Logger.With("component", "mail")}, nil
}

// Send validates m, then delivers it in one SMTP session bounded by the
// sender's timeout and ctx.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	to, err := m.validate()
	if err != nil {
		return fmt.Errorf("send mail: %w", err)
	}
	domains := recipientDomains(to)
	msg, err := s.build(m, to)
	if err != nil {
		return fmt.Errorf("send mail: build message: %w", err)
	}

	timeout := s.p.Timeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl))
	}
	if timeout <= 0 {
		return fmt.Errorf("send mail: %w", context.DeadlineExceeded)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	client, err := s.client(timeout)
	if err != nil {
		return fmt.Errorf("send mail: %w", err)
	}
	start := time.Now()
	err = client.DialAndSendWithContext(ctx, msg)
	attrs := []any{
		"recipient_domains", domains, "recipients", len(to),
		"attachments", len(m.Attachments), "duration", time.Since(start).Round(time.Millisecond).String(),
	}
	if err != nil {
		redacted := redact(err.Error(), to)
		s.log.Warn("mail not sent", append(attrs, "relay", s.addr(), "error", redacted)...)
		return &sendError{msg: "send mail: " + redacted, err: err}
	}
	s.log.Info("mail sent", attrs...)
	return nil
}

// client builds a go-mail client for one session. The deadline of each
// SMTP command is timeout (go-mail renews it per command), and the dial
// honours the context.
func (s *SMTP) client(timeout time.Duration) (*gomail.Client, error) {
	opts := []gomail.Option{
		gomail.WithPort(s.p.Port),
		gomail.WithTimeout(timeout),
	}
	switch s.p.TLSPolicy {
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL(), gomail.WithTLSPolicy(gomail.TLSMandatory))
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if s.p.HeloName != "" {
		opts = append(opts, gomail.WithHELO(s.p.HeloName))
	}
	if s.p.Username != "" {
		auth := gomail.SMTPAuthAutoDiscover
		if s.p.TLSPolicy == TLSNone {
			auth = gomail.SMTPAuthPlainNoEnc
		}
		opts = append(opts, gomail.WithSMTPAuth(auth),
			gomail.WithUsername(s.p.Username), gomail.WithPassword(s.p.Password))
	}
	c, err := gomail.NewClient(s.p.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("smtp client: %w", err)
	}
	return c, nil
}

// build turns m into a go-mail message: text body, optional HTML
// alternative, attachments.
func (s *SMTP) build(m Message, to []*netmail.Address) (*gomail.Msg, error) {
	msg := gomail.NewMsg(gomail.WithCharset(gomail.CharsetUTF8), gomail.WithEncoding(gomail.EncodingQP))
	msg.FromMailAddress(s.from)
	msg.ToMailAddress(to...)
	msg.Subject(m.Subject)
	msg.SetDate()
	msg.SetMessageID()
	if m.Language != "" {
		msg.SetGenHeader(gomail.HeaderContentLang, m.Language)
	}
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	for _, a := range m.Attachments {
		msg.AttachReadSeeker(a.Name, bytes.NewReader(a.Data),
			gomail.WithFileContentType(gomail.ContentType(a.ContentType)))
	}
	return msg, nil
}

func (s *SMTP) addr() string {
	return net.JoinHostPort(s.p.Host, fmt.Sprint(s.p.Port))
}

// redact replaces every recipient address in text by "…@domain": relay
// errors quote the recipients they refused.
func redact(text string, to []*netmail.Address) string {
	for _, a := range to {
		if a.Address == "" {
			continue
		}
		re := regexp.MustCompile("(?i)" + regexp.QuoteMeta(a.Address))
		text = re.ReplaceAllLiteralString(text, "…@"+domainOf(a.Address))
	}
	return text
}

// IsTemporary reports whether err is a relay failure worth retrying later
// (a 4xx reply such as greylisting or a full mailbox).
func IsTemporary(err error) bool {
	var se *gomail.SendError
	return errors.As(err, &se) && se.IsTemp()
}

var _ Sender = (*SMTP)(nil)
