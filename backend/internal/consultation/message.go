package consultation

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hcw-home/hcw/backend/internal/authz"
	"github.com/hcw-home/hcw/backend/internal/mail"
)

var (
	errNoTemplate         = errors.New("no message template")
	mailErrNotConfigured  = mail.ErrNotConfigured
	mailErrInvalidMessage = mail.ErrInvalidMessage
)

// catalog holds the invite mail in each language the appliance speaks;
// a patient's language falls back to its base ("fr-CH" to "fr"), then to
// English. Placeholders: %[1]s first name, %[2]s link, %[3]s time (local,
// with its zone).
type inviteText struct {
	subject, subjectScheduled string
	body, bodyScheduled       string
	// dateLayout formats the scheduled time for this language.
	dateLayout string
	// eventSummary is the calendar entry's title.
	eventSummary string
	// bodyRole invites a guest, interpreter or expert: %[1]s first name,
	// %[2]s link, %[3]s the role as roles words it.
	bodyRole string
	roles    map[authz.Role]string
}

var catalog = map[string]inviteText{
	"en": {
		subject:          "Your teleconsultation link",
		subjectScheduled: "Your teleconsultation appointment",
		body: "Hello %[1]s,\n\nYou are invited to a teleconsultation. Open this link in your browser when you are ready:\n\n%[2]s\n\n" +
			"No account or app is needed. Keep this link to yourself.\n",
		bodyScheduled: "Hello %[1]s,\n\nYou are invited to a teleconsultation on %[3]s. Open this link in your browser a few minutes before:\n\n%[2]s\n\n" +
			"No account or app is needed. Keep this link to yourself.\n",
		dateLayout:   "Monday 2 January 2006 at 15:04 (MST)",
		eventSummary: "Teleconsultation",
		bodyRole: "Hello %[1]s,\n\nYou are invited to join a teleconsultation %[3]s. Open this link in your browser when you are ready:\n\n%[2]s\n\n" +
			"No account or app is needed. Keep this link to yourself.\n",
		roles: map[authz.Role]string{authz.RoleGuest: "as a guest", authz.RoleInterpreter: "as the interpreter", authz.RoleExpert: "as an expert"},
	},
	"fr": {
		subject:          "Votre lien de téléconsultation",
		subjectScheduled: "Votre rendez-vous de téléconsultation",
		body: "Bonjour %[1]s,\n\nVous êtes invité(e) à une téléconsultation. Ouvrez ce lien dans votre navigateur quand vous êtes prêt(e) :\n\n%[2]s\n\n" +
			"Aucun compte ni application n'est nécessaire. Ne transmettez ce lien à personne.\n",
		bodyScheduled: "Bonjour %[1]s,\n\nVous êtes invité(e) à une téléconsultation le %[3]s. Ouvrez ce lien dans votre navigateur quelques minutes avant :\n\n%[2]s\n\n" +
			"Aucun compte ni application n'est nécessaire. Ne transmettez ce lien à personne.\n",
		dateLayout:   "02/01/2006 à 15:04 (MST)",
		eventSummary: "Téléconsultation",
		bodyRole: "Bonjour %[1]s,\n\nVous êtes invité(e) à rejoindre une téléconsultation %[3]s. Ouvrez ce lien dans votre navigateur quand vous êtes prêt(e) :\n\n%[2]s\n\n" +
			"Aucun compte ni application n'est nécessaire. Ne transmettez ce lien à personne.\n",
		roles: map[authz.Role]string{authz.RoleGuest: "en tant qu'invité(e)", authz.RoleInterpreter: "en tant qu'interprète", authz.RoleExpert: "en tant qu'expert(e)"},
	},
}

// textFor returns the catalog entry for a language tag and the tag used.
func textFor(language string) (inviteText, string) {
	if t, ok := catalog[language]; ok {
		return t, language
	}
	base, _, _ := strings.Cut(language, "-")
	if t, ok := catalog[base]; ok {
		return t, base
	}
	return catalog["en"], "en"
}

// inviteMessage builds the invite mail in the patient's language, with an
// .ics attachment when the invite is scheduled.
func inviteMessage(inv Invite, link string, now time.Time) (mail.Message, error) {
	if inv.Email == "" {
		return mail.Message{}, fmt.Errorf("invite %s has no e-mail address: %w", inv.ID, errNoTemplate)
	}
	t, lang := textFor(inv.Language)
	m := mail.Message{To: []string{inv.Email}, Subject: t.subject, Text: fmt.Sprintf(t.body, inv.FirstName, link), Language: lang}
	if role, ok := t.roles[inv.Role]; ok {
		m.Text = fmt.Sprintf(t.bodyRole, inv.FirstName, link, role)
	}
	if inv.ScheduledAt != nil {
		loc, err := time.LoadLocation(inv.TimeZone)
		if err != nil {
			loc = time.UTC
		}
		when := inv.ScheduledAt.In(loc).Format(t.dateLayout)
		m.Subject = t.subjectScheduled
		m.Text = fmt.Sprintf(t.bodyScheduled, inv.FirstName, link, when)
		m.Attachments = []mail.Attachment{{
			Name: "invite.ics", ContentType: "text/calendar; charset=utf-8",
			Data: ICS(Event{UID: inv.ID + "@hcw-home", Start: *inv.ScheduledAt, Duration: 30 * time.Minute,
				Summary: t.eventSummary, Description: link, URL: link, Stamp: now,
				// Rescheduling mails the same UID again: seconds since
				// the invite was made only grow.
				Sequence: max(int(now.Sub(inv.CreatedAt)/time.Second), 0)}),
		}}
	}
	return m, nil
}
