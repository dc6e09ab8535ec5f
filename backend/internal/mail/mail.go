// Package mail sends the appliance's e-mail (invitations, sign-in links,
// calendar invites) through an SMTP relay. Callers build a Message and hand
// it to a Sender; the SMTP sender validates it before any byte goes on the
// wire, and the Disabled sender stands in when no relay is configured.
//
// Message bodies often carry links with tokens, so nothing in this package
// logs a body, a subject or a full address: only recipient domains.
package mail

import (
	"context"
	"fmt"
	"mime"
	netmail "net/mail"
	"strings"
	"unicode/utf8"
)

// Limits on one message. A consultation invite has one or two recipients
// and at most an .ics file, so these are generous; they exist so that a bug
// or an abusive request cannot turn the relay into a bulk sender.
const (
	// MaxRecipients bounds To.
	MaxRecipients = 10
	// MaxAttachments bounds Attachments.
	MaxAttachments = 10
	// MaxMessageBytes bounds Text, HTML and attachment data together
	// (25 MiB, before transfer encoding, which adds about a third).
	MaxMessageBytes = 25 << 20
	// MaxSubjectRunes bounds Subject.
	MaxSubjectRunes = 255
	// maxNameBytes bounds an attachment's file name.
	maxNameBytes = 255
)

// Message is one e-mail to one or more recipients.
type Message struct {
	// To are the recipients, each an RFC 5322 address ("a@example.org" or
	// "Name <a@example.org>").
	To []string
	// Subject is one line: CR and LF are refused (header injection).
	Subject string
	// Text is the plain-text body; it is required.
	Text string
	// HTML is an optional alternative body.
	HTML string
	// Attachments, such as a calendar invite (text/calendar).
	Attachments []Attachment
	// Language is the BCP 47 tag of the content ("fr", "de-CH"), sent as
	// Content-Language when set.
	Language string
}

// Attachment is a file attached to a Message.
type Attachment struct {
	// Name is the file name shown to the recipient, e.g. "invite.ics".
	Name string
	// ContentType is a MIME type, e.g. "text/calendar; method=REQUEST".
	ContentType string
	// Data is the file's content.
	Data []byte
}

// Sender delivers messages.
type Sender interface {
	// Send delivers m or returns an error; it honours ctx's cancellation
	// and deadline in addition to the sender's own timeout.
	Send(ctx context.Context, m Message) error
}

// validate checks m and returns its parsed recipients. Every error wraps
// ErrInvalidMessage and names the field, never its value: values may be
// personal data.
func (m Message) validate() ([]*netmail.Address, error) {
	if len(m.To) == 0 {
		return nil, invalid("no recipient")
	}
	if len(m.To) > MaxRecipients {
		return nil, invalid("%d recipients, at most %d allowed", len(m.To), MaxRecipients)
	}
	to := make([]*netmail.Address, 0, len(m.To))
	for i, s := range m.To {
		a, err := parseAddress(s)
		if err != nil {
			return nil, invalid("recipient %d is not an e-mail address", i+1)
		}
		to = append(to, a)
	}
	if strings.ContainsAny(m.Subject, "\r\n") {
		return nil, invalid("subject contains a line break")
	}
	if !utf8.ValidString(m.Subject) || utf8.RuneCountInString(m.Subject) > MaxSubjectRunes {
		return nil, invalid("subject is not valid UTF-8 of at most %d characters", MaxSubjectRunes)
	}
	if strings.TrimSpace(m.Text) == "" {
		return nil, invalid("no text body")
	}
	if !utf8.ValidString(m.Text) || !utf8.ValidString(m.HTML) {
		return nil, invalid("body is not valid UTF-8")
	}
	if m.Language != "" && !isLanguageTag(m.Language) {
		return nil, invalid("language is not a BCP 47 tag such as fr or de-CH")
	}
	if len(m.Attachments) > MaxAttachments {
		return nil, invalid("%d attachments, at most %d allowed", len(m.Attachments), MaxAttachments)
	}
	size := len(m.Text) + len(m.HTML)
	for i, a := range m.Attachments {
		if a.Name == "" || len(a.Name) > maxNameBytes || strings.ContainsAny(a.Name, "\r\n\x00/\\\"") || !utf8.ValidString(a.Name) {
			return nil, invalid("attachment %d has an empty or unsafe file name", i+1)
		}
		if _, _, err := mime.ParseMediaType(a.ContentType); err != nil || strings.ContainsAny(a.ContentType, "\r\n") {
			return nil, invalid("attachment %d has no valid content type", i+1)
		}
		size += len(a.Data)
	}
	if size > MaxMessageBytes {
		return nil, invalid("%d bytes of content, at most %d allowed", size, MaxMessageBytes)
	}
	return to, nil
}

// parseAddress accepts exactly one address, as net/mail parses it.
func parseAddress(s string) (*netmail.Address, error) {
	a, err := netmail.ParseAddress(s)
	if err != nil {
		return nil, err
	}
	if !strings.Contains(a.Address, "@") {
		return nil, fmt.Errorf("no domain")
	}
	return a, nil
}

// ParseAddress reports whether s is one valid e-mail address such as
// "noreply@example.org" or `"HCW@Home" <noreply@example.org>`. Configuration
// uses it for the sender address.
func ParseAddress(s string) error {
	_, err := parseAddress(s)
	return err
}

// isLanguageTag accepts the shape of a BCP 47 tag: a 2-8 letter primary
// subtag and alphanumeric subtags of 1-8 characters.
func isLanguageTag(s string) bool {
	for i, sub := range strings.Split(s, "-") {
		if len(sub) == 0 || len(sub) > 8 || (i == 0 && len(sub) < 2) {
			return false
		}
		for _, c := range sub {
			alpha := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
			if !alpha && !(i > 0 && c >= '0' && c <= '9') {
				return false
			}
		}
	}
	return true
}

// recipientDomains returns the distinct domains of to, for logs.
func recipientDomains(to []*netmail.Address) []string {
	var out []string
	for _, a := range to {
		d := strings.ToLower(domainOf(a.Address))
		if !contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}

func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return addr[i+1:]
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
