package mail_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/backend/internal/mail"
	"github.com/hcw-home/hcw/backend/internal/mail/mailtest"
)

const ics = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//HCW@Home//test//EN\r\nMETHOD:REQUEST\r\n" +
	"BEGIN:VEVENT\r\nUID:c-42@hcw.test\r\nDTSTAMP:20260102T090000Z\r\nDTSTART:20260102T100000Z\r\n" +
	"SUMMARY:Consultation\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"

// lockedBuffer collects log output written from the sender's goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newSender(t *testing.T, p mail.Params) (*mail.SMTP, *lockedBuffer) {
	t.Helper()
	logs := &lockedBuffer{}
	if p.From == "" {
		p.From = `"HCW@Home" <noreply@hcw.test>`
	}
	if p.TLSPolicy == "" {
		p.TLSPolicy = mail.TLSNone
	}
	if p.Timeout == 0 {
		p.Timeout = 5 * time.Second
	}
	p.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	s, err := mail.NewSMTP(p)
	require.NoError(t, err)
	return s, logs
}

func catcher(t *testing.T) (*mailtest.Server, mail.Params) {
	t.Helper()
	srv := mailtest.Start(t)
	return srv, mail.Params{Host: srv.SMTPHost, Port: srv.SMTPPort}
}

func TestSendTextWithCalendarInvite(t *testing.T) {
	srv, p := catcher(t)
	s, logs := newSender(t, p)

	const link = "https://patient.localhost/i/SECRET-TOKEN-123"
	err := s.Send(context.Background(), mail.Message{
		To:       []string{"Patient Zéro <patient@clinic.example>"},
		Subject:  "Votre consultation à 11:00",
		Text:     "Bonjour,\n\nrejoignez la consultation : " + link + "\n",
		Language: "fr",
		Attachments: []mail.Attachment{{
			Name: "invite.ics", ContentType: "text/calendar; method=REQUEST", Data: []byte(ics),
		}},
	})
	require.NoError(t, err)

	got := srv.WaitFor(t, "patient@clinic.example", 10*time.Second)
	assert.Equal(t, "Votre consultation à 11:00", got.Subject)
	require.Len(t, got.To, 1)
	assert.Equal(t, "patient@clinic.example", got.To[0].Address)
	assert.Equal(t, "Patient Zéro", got.To[0].Name)
	require.NotNil(t, got.From)
	assert.Equal(t, "noreply@hcw.test", got.From.Address)
	assert.Equal(t, "HCW@Home", got.From.Name)
	assert.Contains(t, got.Text, "rejoignez la consultation : "+link)
	assert.Empty(t, got.HTML)

	require.Len(t, got.Attachments, 1)
	att := got.Attachments[0]
	assert.Equal(t, "invite.ics", att.FileName)
	assert.True(t, strings.HasPrefix(att.ContentType, "text/calendar"), "content type %q", att.ContentType)
	assert.Equal(t, ics, string(srv.Part(t, got.ID, att.PartID)))

	h := srv.Headers(t, got.ID)
	assert.Equal(t, []string{"fr"}, h["Content-Language"])
	assert.NotEmpty(t, h["Message-Id"], "headers: %v", h)

	// The log names the domain only: no address, no subject, no body.
	out := logs.String()
	assert.Contains(t, out, `"mail sent"`)
	assert.Contains(t, out, "clinic.example")
	for _, secret := range []string{"patient@", "SECRET-TOKEN", "consultation", "Zéro"} {
		assert.NotContains(t, out, secret)
	}
}

func TestSendHTMLAlternative(t *testing.T) {
	srv, p := catcher(t)
	s, _ := newSender(t, p)

	require.NoError(t, s.Send(context.Background(), mail.Message{
		To:      []string{"doctor@hospital.example", "guest@other.example"},
		Subject: "Invitation",
		Text:    "Plain text version",
		HTML:    "<p>HTML <b>version</b></p>",
	}))
	got := srv.WaitFor(t, "guest@other.example", 10*time.Second)
	assert.Equal(t, "Invitation", got.Subject)
	assert.Len(t, got.To, 2)
	assert.Contains(t, got.Text, "Plain text version")
	assert.Contains(t, got.HTML, "<p>HTML <b>version</b></p>")
	assert.Empty(t, got.Attachments)
	assert.Contains(t, string(srv.Raw(t, got.ID)), "multipart/alternative")
}

func TestSendWithLogin(t *testing.T) {
	srv, p := catcher(t)
	p.Username, p.Password = "hcw", "s3cret"
	s, logs := newSender(t, p)

	require.NoError(t, s.Send(context.Background(), mail.Message{
		To: []string{"a@b.example"}, Subject: "x", Text: "y",
	}))
	got := srv.WaitFor(t, "a@b.example", 10*time.Second)
	assert.Equal(t, "hcw", got.Username)
	assert.NotContains(t, logs.String(), "s3cret")
}

func TestSendRefusesBeforeSending(t *testing.T) {
	srv, p := catcher(t)
	s, _ := newSender(t, p)

	ok := func() mail.Message {
		return mail.Message{To: []string{"patient@clinic.example"}, Subject: "Invitation", Text: "hello"}
	}
	tooMany := ok()
	tooMany.To = nil
	for range mail.MaxRecipients + 1 {
		tooMany.To = append(tooMany.To, "p@clinic.example")
	}

	tests := []struct {
		name   string
		mutate func(*mail.Message)
	}{
		{"CRLF in subject", func(m *mail.Message) { m.Subject = "Hi\r\nBcc: victim@evil.example" }},
		{"LF in subject", func(m *mail.Message) { m.Subject = "Hi\nX-Injected: 1" }},
		{"bad address", func(m *mail.Message) { m.To = []string{"not an address"} }},
		{"address without domain", func(m *mail.Message) { m.To = []string{"patient"} }},
		{"two addresses in one", func(m *mail.Message) { m.To = []string{"a@x.example, b@y.example"} }},
		{"header in address", func(m *mail.Message) { m.To = []string{"a@x.example\r\nBcc: b@y.example"} }},
		{"no recipient", func(m *mail.Message) { m.To = nil }},
		{"too many recipients", func(m *mail.Message) { m.To = tooMany.To }},
		{"no text", func(m *mail.Message) { m.Text = " \n" }},
		{"bad language", func(m *mail.Message) { m.Language = "fr\r\nX: y" }},
		{"attachment name with path", func(m *mail.Message) {
			m.Attachments = []mail.Attachment{{Name: "../x.ics", ContentType: "text/calendar", Data: []byte("x")}}
		}},
		{"attachment without content type", func(m *mail.Message) {
			m.Attachments = []mail.Attachment{{Name: "x.ics", Data: []byte("x")}}
		}},
		{"too large", func(m *mail.Message) {
			m.Attachments = []mail.Attachment{{Name: "big.bin", ContentType: "application/octet-stream", Data: make([]byte, mail.MaxMessageBytes)}}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := ok()
			tc.mutate(&m)
			err := s.Send(context.Background(), m)
			require.ErrorIs(t, err, mail.ErrInvalidMessage)
			assert.NotContains(t, err.Error(), "victim", "the error must not echo values")
		})
	}

	// A valid message afterwards is the only one the server ever saw.
	require.NoError(t, s.Send(context.Background(), ok()))
	srv.WaitFor(t, "patient@clinic.example", 10*time.Second)
	msgs := srv.Messages(t)
	require.Len(t, msgs, 1)
	assert.Equal(t, "Invitation", msgs[0].Subject)
}

func TestSendStartTLSIsMandatory(t *testing.T) {
	srv, p := catcher(t) // mailpit here offers no STARTTLS
	p.TLSPolicy = mail.TLSStartTLS
	s, _ := newSender(t, p)

	err := s.Send(context.Background(), mail.Message{To: []string{"a@b.example"}, Subject: "x", Text: "y"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "STARTTLS")
	assert.Empty(t, srv.Messages(t), "nothing may be sent in clear")
}

func TestSendServerDown(t *testing.T) {
	m := mail.Message{To: []string{"patient@clinic.example"}, Subject: "x", Text: "y"}

	t.Run("connection refused", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		port := l.Addr().(*net.TCPAddr).Port
		require.NoError(t, l.Close())

		s, logs := newSender(t, mail.Params{Host: "127.0.0.1", Port: port, Timeout: 2 * time.Second})
		start := time.Now()
		err = s.Send(context.Background(), m)
		require.Error(t, err)
		assert.Less(t, time.Since(start), 2*time.Second)
		assert.Contains(t, logs.String(), `"mail not sent"`)
		assert.NotContains(t, err.Error(), "patient@")
	})

	// A relay that accepts the connection and never answers must not hang
	// the caller: the sender's timeout ends it.
	silent := func(t *testing.T) int {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		var mu sync.Mutex
		var conns []net.Conn
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			}
		}()
		t.Cleanup(func() {
			l.Close()
			mu.Lock()
			defer mu.Unlock()
			for _, c := range conns {
				c.Close()
			}
		})
		return l.Addr().(*net.TCPAddr).Port
	}

	t.Run("silent server, sender timeout", func(t *testing.T) {
		s, _ := newSender(t, mail.Params{Host: "127.0.0.1", Port: silent(t), Timeout: 500 * time.Millisecond})
		start := time.Now()
		err := s.Send(context.Background(), m)
		require.Error(t, err)
		elapsed := time.Since(start)
		assert.GreaterOrEqual(t, elapsed, 400*time.Millisecond)
		assert.Less(t, elapsed, 3*time.Second)
	})

	t.Run("silent server, context deadline", func(t *testing.T) {
		s, _ := newSender(t, mail.Params{Host: "127.0.0.1", Port: silent(t), Timeout: time.Minute})
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		require.Error(t, s.Send(ctx, m))
		assert.Less(t, time.Since(start), 3*time.Second)
	})
}

func TestDisabled(t *testing.T) {
	var s mail.Sender = mail.Disabled{}
	err := s.Send(context.Background(), mail.Message{To: []string{"a@b.example"}, Subject: "x", Text: "y"})
	require.ErrorIs(t, err, mail.ErrNotConfigured)
	assert.Contains(t, err.Error(), "HCW_SMTP_HOST")

	// Its caller's own mistakes still show.
	err = s.Send(context.Background(), mail.Message{To: []string{"nope"}, Subject: "x", Text: "y"})
	require.ErrorIs(t, err, mail.ErrInvalidMessage)
	assert.False(t, errors.Is(err, mail.ErrNotConfigured))
}

func TestNewSMTPParams(t *testing.T) {
	good := mail.Params{Host: "smtp.example.org", Port: 587, From: "noreply@example.org"}
	tests := []struct {
		name   string
		mutate func(*mail.Params)
	}{
		{"no host", func(p *mail.Params) { p.Host = "" }},
		{"host with scheme", func(p *mail.Params) { p.Host = "smtp://x" }},
		{"port 0", func(p *mail.Params) { p.Port = 0 }},
		{"port too big", func(p *mail.Params) { p.Port = 70000 }},
		{"bad from", func(p *mail.Params) { p.From = "noreply" }},
		{"bad tls", func(p *mail.Params) { p.TLSPolicy = "ssl" }},
		{"password without username", func(p *mail.Params) { p.Password = "x" }},
		{"negative timeout", func(p *mail.Params) { p.Timeout = -time.Second }},
	}
	_, err := mail.NewSMTP(good)
	require.NoError(t, err)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := good
			tc.mutate(&p)
			_, err := mail.NewSMTP(p)
			require.ErrorIs(t, err, mail.ErrInvalidParams)
		})
	}
}
