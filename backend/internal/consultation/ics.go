package consultation

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Event is one calendar entry.
type Event struct {
	// UID identifies the event across updates (RFC 5545 3.8.4.7).
	UID string
	// Start is written in UTC; Duration gives DTEND.
	Start    time.Time
	Duration time.Duration
	// Stamp is DTSTAMP, when the entry was made.
	Stamp time.Time
	// Sequence is the revision (RFC 5545 3.8.7.4): a later mail of the
	// same UID with a higher one updates the entry. Omitted when 0.
	Sequence                  int
	Summary, Description, URL string
}

const icsTime = "20060102T150405Z"

// ICS renders ev as an RFC 5545 calendar: one VEVENT, times in UTC, text
// escaped, lines folded at 75 octets, CRLF line endings. It is a plain
// calendar file (no METHOD): the appliance sends no meeting requests that
// calendars would answer.
func ICS(ev Event) []byte {
	var b strings.Builder
	line := func(name, value string) {
		fold(&b, name+":"+value)
	}
	line("BEGIN", "VCALENDAR")
	line("VERSION", "2.0")
	line("PRODID", "-//HCW@Home//Teleconsultation//EN")
	line("CALSCALE", "GREGORIAN")
	line("BEGIN", "VEVENT")
	line("UID", escapeText(ev.UID))
	line("DTSTAMP", ev.Stamp.UTC().Format(icsTime))
	if ev.Sequence > 0 {
		line("SEQUENCE", strconv.Itoa(ev.Sequence))
	}
	line("DTSTART", ev.Start.UTC().Format(icsTime))
	line("DTEND", ev.Start.Add(ev.Duration).UTC().Format(icsTime))
	line("SUMMARY", escapeText(ev.Summary))
	if ev.Description != "" {
		line("DESCRIPTION", escapeText(ev.Description))
	}
	if ev.URL != "" {
		// URL is of type URI: not TEXT-escaped, only kept free of breaks.
		line("URL", strings.NewReplacer("\r", "", "\n", "").Replace(ev.URL))
	}
	line("END", "VEVENT")
	line("END", "VCALENDAR")
	return []byte(b.String())
}

// escapeText escapes a TEXT value (RFC 5545 3.3.11): backslash, semicolon,
// comma and line breaks.
func escapeText(s string) string {
	return strings.NewReplacer(`\`, `\\`, ";", `\;`, ",", `\,`, "\r\n", `\n`, "\n", `\n`, "\r", `\n`).Replace(s)
}

// fold writes one content line, folded so that no line exceeds 75 octets
// (continuations start with a space), never splitting a UTF-8 sequence.
func fold(b *strings.Builder, s string) {
	limit := 75
	for len(s) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		b.WriteString(s[:cut])
		b.WriteString("\r\n ")
		s = s[cut:]
		limit = 74 // the leading space counts
	}
	b.WriteString(s)
	b.WriteString("\r\n")
}
