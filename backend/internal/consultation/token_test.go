package consultation

import (
	"strings"
	"testing"
	"time"
)

func FuzzParseInviteToken(f *testing.F) {
	for _, seed := range []string{
		newToken().String(), "", "short", strings.Repeat("A", 43), strings.Repeat("A", 42) + "B",
		strings.Repeat("_", 43), strings.Repeat("-", 42) + "=", strings.Repeat("A", 44), "../../etc/passwd",
		strings.Repeat("é", 22), "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\x00",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := ParseInviteToken(s)
		if err != nil {
			if err != ErrInviteInvalid {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if tok.String() != s || len(s) != TokenLen {
			t.Fatalf("accepted %q as %q", s, tok.String())
		}
		// Accepted tokens are canonical: decoding and encoding again
		// gives the same text, so one secret has one hash.
		b, err := tokenEncoding.DecodeString(s)
		if err != nil || tokenEncoding.EncodeToString(b) != s || len(tok.Hash()) != 32 {
			t.Fatalf("non-canonical token %q accepted", s)
		}
	})
}

func TestNewTokenParses(t *testing.T) {
	a, b := newToken(), newToken()
	if a == b {
		t.Fatal("two equal tokens")
	}
	if _, err := ParseInviteToken(a.String()); err != nil {
		t.Fatal(err)
	}
}

func TestInviteMoves(t *testing.T) {
	all := []InviteStatus{InviteCreated, InviteSent, InviteDeliveryFailed, InviteOpened, InviteRedeemed, InviteExpired, InviteRevoked}
	// Written out independently of inviteMoves.
	want := map[InviteStatus]string{
		InviteCreated:        "sent delivery_failed opened redeemed expired revoked",
		InviteSent:           "opened redeemed expired revoked",
		InviteDeliveryFailed: "opened redeemed expired revoked",
		InviteOpened:         "redeemed expired revoked",
		InviteRedeemed:       "revoked",
		InviteExpired:        "revoked",
		InviteRevoked:        "",
	}
	for _, from := range all {
		for _, to := range all {
			allowed := false
			for _, w := range strings.Fields(want[from]) {
				allowed = allowed || w == string(to)
			}
			if got := from.CanBecome(to); got != allowed {
				t.Errorf("%s -> %s: %v, want %v", from, to, got, allowed)
			}
		}
	}
}

func TestICS(t *testing.T) {
	start := time.Date(2026, 12, 1, 10, 0, 0, 0, time.FixedZone("CET", 3600))
	out := string(ICS(Event{UID: "x@hcw", Start: start, Duration: 30 * time.Minute, Stamp: start,
		Summary: "Rendez-vous; test, a\\b\nc", Description: strings.Repeat("é", 60),
		URL: "https://patient.example.org/i/" + strings.Repeat("A", 43)}))
	for _, want := range []string{
		"BEGIN:VCALENDAR\r\n", "DTSTART:20261201T090000Z\r\n", "DTEND:20261201T093000Z\r\n",
		`SUMMARY:Rendez-vous\; test\, a\\b\nc` + "\r\n", "END:VCALENDAR\r\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	for _, line := range strings.Split(strings.TrimSuffix(out, "\r\n"), "\r\n") {
		if len(line) > 75 {
			t.Errorf("line of %d octets: %q", len(line), line)
		}
		if !utf8Valid(line) {
			t.Errorf("folding split a character: %q", line)
		}
	}
	unfolded := strings.ReplaceAll(out, "\r\n ", "")
	if !strings.Contains(unfolded, "DESCRIPTION:"+strings.Repeat("é", 60)+"\r\n") ||
		!strings.Contains(unfolded, "URL:https://patient.example.org/i/"+strings.Repeat("A", 43)+"\r\n") {
		t.Errorf("unfolding does not give the values back:\n%s", unfolded)
	}
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

func TestTextFallback(t *testing.T) {
	for lang, want := range map[string]string{"fr": "fr", "fr-CH": "fr", "en-GB": "en", "de": "en", "": "en"} {
		if _, got := textFor(lang); got != want {
			t.Errorf("textFor(%q) = %s, want %s", lang, got, want)
		}
	}
}
