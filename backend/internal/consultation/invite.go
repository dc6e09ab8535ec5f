package consultation

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/mail"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/nyaruka/phonenumbers"

	"github.com/hcw-home/hcw/backend/internal/audit"
	"github.com/hcw-home/hcw/backend/internal/authz"
	"github.com/hcw-home/hcw/backend/internal/events"
	// The IANA database is embedded so that time zones load in a
	// distroless image without /usr/share/zoneinfo.
	_ "time/tzdata"
)

// Audit actions of invites.
const (
	ActionInviteCreated        = "invite.created"
	ActionInviteSent           = "invite.sent"
	ActionInviteDeliveryFailed = "invite.delivery_failed"
	ActionInviteRevoked        = "invite.revoked"
	ActionInviteRedeemed       = "invite.redeemed"
	ActionInviteRefused        = "invite.refused"
	ActionInviteRead           = "invite.read"
	ActionParticipantSession   = "participant.session_started"
)

// Limits of an invite's free fields.
const (
	MaxMetadataBytes = 4 << 10
	MaxNoteRunes     = 2000
	MaxNameRunes     = 100
	// maxScheduleAhead bounds how far ahead an invite may be scheduled.
	maxScheduleAhead = 366 * 24 * time.Hour
)

var languagePattern = regexp.MustCompile(`^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$`)

// NewInvite is a patient invite as a creator asks for it.
type NewInvite struct {
	FirstName, LastName string
	// Phone is E.164 (+41221234567); Email a bare address. At least one.
	Phone, Email string
	// Language is the patient's (BCP 47 short form); "en" if empty.
	Language string
	// ScheduledAt and TimeZone (IANA) go together, or are both empty.
	ScheduledAt *time.Time
	TimeZone    string
	// Exactly one of QueueID and DoctorID.
	QueueID, DoctorID string
	Note              string
	// Metadata is the integrator's JSON object, at most 4 KiB.
	Metadata json.RawMessage
	Delivery Delivery
}

// Invite is an invite as its readers see it: sealed fields opened.
type Invite struct {
	ID, ConsultationID, ParticipantID string
	Role                              authz.Role
	// Status is the effective status: an unredeemed invite past its
	// expiry reads as expired even before a redemption writes it.
	Status        InviteStatus
	Delivery      Delivery
	DeliveryError string
	FirstName     string
	LastName      string
	Language      string
	Email, Phone  string
	ScheduledAt   *time.Time
	TimeZone      string
	ExpiresAt     time.Time
	Note          string
	Metadata      json.RawMessage
	QueueID       string
	DoctorID      string
	CreatedByType string
	CreatedByID   string
	CreatedAt     time.Time
	UpdatedAt     time.Time
	RedeemedAt    *time.Time
	RevokedAt     *time.Time
	// ConsultationStatus is the invite's consultation's status.
	ConsultationStatus Status

	// stored is the status as stored, which transitions start from.
	stored InviteStatus
}

// Issued is a new invite with its link, which is shown once.
type Issued struct {
	Invite Invite
	// Link is https://<patient host>/i/<token>. Never log or store it.
	Link string
}

// inviteRow is an invites row joined with its participant and
// consultation, sealed fields still sealed.
type inviteRow struct {
	ID                 string     `db:"id"`
	ConsultationID     string     `db:"consultation_id"`
	ParticipantID      string     `db:"participant_id"`
	Role               string     `db:"role"`
	Status             string     `db:"status"`
	Delivery           string     `db:"delivery"`
	DeliveryError      *string    `db:"delivery_error"`
	EmailSealed        []byte     `db:"email_sealed"`
	PhoneSealed        []byte     `db:"phone_sealed"`
	ScheduledAt        *time.Time `db:"scheduled_at"`
	TimeZone           *string    `db:"time_zone"`
	ExpiresAt          time.Time  `db:"expires_at"`
	NoteSealed         []byte     `db:"note_sealed"`
	MetadataSealed     []byte     `db:"metadata_sealed"`
	CreatedByType      string     `db:"created_by_type"`
	CreatedByID        string     `db:"created_by_id"`
	CreatedAt          time.Time  `db:"created_at"`
	UpdatedAt          time.Time  `db:"updated_at"`
	RedeemedAt         *time.Time `db:"redeemed_at"`
	RevokedAt          *time.Time `db:"revoked_at"`
	FirstNameSealed    []byte     `db:"first_name_sealed"`
	LastNameSealed     []byte     `db:"last_name_sealed"`
	Language           string     `db:"language"`
	QueueID            *string    `db:"queue_id"`
	DoctorID           *string    `db:"doctor_id"`
	ConsultationStatus string     `db:"consultation_status"`
}

const inviteColumns = `i.id::text AS id, i.consultation_id::text AS consultation_id, i.participant_id::text AS participant_id,
    i.role, i.status, i.delivery, i.delivery_error, i.email_sealed, i.phone_sealed, i.scheduled_at, i.time_zone,
    i.expires_at, i.note_sealed, i.metadata_sealed, i.created_by_type, i.created_by_id::text AS created_by_id,
    i.created_at, i.updated_at, i.redeemed_at, i.revoked_at,
    p.first_name_sealed, p.last_name_sealed, p.language,
    c.queue_id::text AS queue_id, c.doctor_id::text AS doctor_id, c.status AS consultation_status`

const inviteFrom = ` FROM invites i JOIN participants p ON p.id = i.participant_id JOIN consultations c ON c.id = i.consultation_id`

const (
	sqlDoctorActive = `SELECT EXISTS (SELECT 1 FROM users WHERE id = $1 AND role = 'doctor' AND status = 'active')`
	sqlQueueExists  = `SELECT EXISTS (SELECT 1 FROM queues WHERE id = $1)`

	sqlConsultationInsert = `
INSERT INTO consultations (id, queue_id, doctor_id, status, created_by_type, created_by_id, created_at, updated_at)
VALUES ($1, $2, $3, 'invited', $4, $5, $6, $6)`
	sqlParticipantInsert = `
INSERT INTO participants (id, consultation_id, role, first_name_sealed, last_name_sealed, language, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)`
	sqlInviteInsert = `
INSERT INTO invites (id, consultation_id, participant_id, token_hash, role, status, delivery, email_sealed, phone_sealed,
                     scheduled_at, time_zone, expires_at, note_sealed, metadata_sealed, created_by_type, created_by_id,
                     created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, 'created', $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16)`

	sqlInviteByID        = `SELECT ` + inviteColumns + inviteFrom + ` WHERE i.id = $1`
	sqlInviteForUpdate   = sqlInviteByID + ` FOR UPDATE OF i`
	sqlInviteByTokenLock = `SELECT ` + inviteColumns + inviteFrom + ` WHERE i.token_hash = $1 FOR UPDATE OF i, c`
	sqlInviteList        = `
SELECT ` + inviteColumns + inviteFrom + `
WHERE i.created_by_id = $1
  AND ($2::timestamptz IS NULL OR (i.created_at, i.id) < ($2::timestamptz, $3::uuid))
ORDER BY i.created_at DESC, i.id DESC
LIMIT $4`

	sqlInviteSetStatus = `
UPDATE invites SET status = $2, updated_at = $3,
    delivery_error = CASE WHEN $2 = 'delivery_failed' THEN $4 WHEN $2 = 'sent' THEN NULL ELSE delivery_error END,
    redeemed_at = CASE WHEN $2 = 'redeemed' THEN $3 ELSE redeemed_at END,
    revoked_at = CASE WHEN $2 = 'revoked' THEN $3 ELSE revoked_at END
WHERE id = $1`
	sqlRevokeParticipantSessions = `
UPDATE participant_sessions SET revoked_at = $2 WHERE participant_id = $1 AND revoked_at IS NULL`
)

func cleanName(field, s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" || !utf8.ValidString(s) || utf8.RuneCountInString(s) > MaxNameRunes || strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return "", invalid(field, "must be 1 to 100 printable characters")
	}
	return s, nil
}

// normalizePhone accepts an international number (+ and country code,
// spaces allowed) that libphonenumber deems valid and returns it in E.164.
func normalizePhone(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	if !strings.HasPrefix(s, "+") || len(s) > 32 {
		return "", invalid("phone", "must be an international number in E.164 form, e.g. +41221234567")
	}
	n, err := phonenumbers.Parse(s, "")
	if err != nil || !phonenumbers.IsValidNumber(n) {
		return "", invalid("phone", "must be a valid international number in E.164 form, e.g. +41221234567")
	}
	return phonenumbers.Format(n, phonenumbers.E164), nil
}

func normalizeEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || len(s) > 254 || !strings.Contains(s[strings.LastIndexByte(s, '@')+1:], ".") {
		return "", invalid("email", "must be an e-mail address such as name@example.org")
	}
	return strings.ToLower(s), nil
}

// validatePerson checks and normalises the invitee's fields shared by
// every invite: names, contact, language and delivery.
func validatePerson(in *NewInvite) error {
	var err error
	if in.FirstName, err = cleanName("first_name", in.FirstName); err != nil {
		return err
	}
	if in.LastName, err = cleanName("last_name", in.LastName); err != nil {
		return err
	}
	if in.Phone, err = normalizePhone(in.Phone); err != nil {
		return err
	}
	if in.Email, err = normalizeEmail(in.Email); err != nil {
		return err
	}
	if in.Phone == "" && in.Email == "" {
		return invalid("email", "give an e-mail address or a phone number (or both)")
	}
	if in.Language == "" {
		in.Language = "en"
	}
	if !languagePattern.MatchString(in.Language) {
		return invalid("language", "must be a language tag such as en or fr-CH")
	}
	switch in.Delivery {
	case "":
		in.Delivery = DeliveryLink
	case DeliveryLink:
	case DeliveryEmail:
		if in.Email == "" {
			return invalid("email", "is required for delivery by e-mail")
		}
	default:
		return invalid("delivery", "must be link or email")
	}
	return nil
}

// validate checks and normalises in at time now, returning the invite's
// expiry (ttl after the appointment, or after now).
func (s *Service) validate(in *NewInvite, now time.Time, ttl time.Duration) (time.Time, error) {
	if err := validatePerson(in); err != nil {
		return time.Time{}, err
	}
	expires, err := validateSchedule(&in.ScheduledAt, in.TimeZone, now, ttl)
	if err != nil {
		return time.Time{}, err
	}
	switch {
	case (in.QueueID == "") == (in.DoctorID == ""):
		return time.Time{}, invalid("queue_id", "give exactly one of queue_id and doctor_id")
	case in.QueueID != "" && !isUUID(in.QueueID):
		return time.Time{}, invalid("queue_id", "must be a queue id")
	case in.DoctorID != "" && !isUUID(in.DoctorID):
		return time.Time{}, invalid("doctor_id", "must be a user id")
	}
	if !utf8.ValidString(in.Note) || utf8.RuneCountInString(in.Note) > MaxNoteRunes {
		return time.Time{}, invalid("note", "must be at most 2000 characters")
	}
	if len(in.Metadata) > 0 {
		if len(in.Metadata) > MaxMetadataBytes {
			return time.Time{}, invalid("metadata", "must be at most 4096 bytes of JSON")
		}
		var obj map[string]any
		if err := json.Unmarshal(in.Metadata, &obj); err != nil || obj == nil {
			return time.Time{}, invalid("metadata", "must be a JSON object")
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, in.Metadata); err != nil {
			return time.Time{}, invalid("metadata", "must be a JSON object")
		}
		in.Metadata = buf.Bytes()
	}
	return expires, nil
}

// validateSchedule checks an appointment (both or neither of at and
// timeZone), normalises *at to UTC and returns the invite's expiry: the
// appointment (or now when unscheduled) plus ttl, the invite validity in
// force (inviteTiming).
func validateSchedule(at **time.Time, timeZone string, now time.Time, ttl time.Duration) (time.Time, error) {
	switch {
	case *at == nil && timeZone != "":
		return time.Time{}, invalid("scheduled_at", "is required with time_zone")
	case *at != nil && timeZone == "":
		return time.Time{}, invalid("time_zone", "is required with scheduled_at")
	case *at == nil:
		return now.Add(ttl), nil
	}
	if timeZone == "Local" || len(timeZone) > 64 {
		return time.Time{}, invalid("time_zone", "must be an IANA time zone such as Europe/Zurich")
	}
	if _, err := time.LoadLocation(timeZone); err != nil {
		return time.Time{}, invalid("time_zone", "must be an IANA time zone such as Europe/Zurich")
	}
	t := (*at).UTC().Truncate(time.Microsecond)
	*at = &t
	expires := t.Add(ttl)
	if !expires.After(now) {
		return time.Time{}, invalid("scheduled_at", "is too far in the past")
	}
	if t.Sub(now) > maxScheduleAhead {
		return time.Time{}, invalid("scheduled_at", "is more than a year ahead")
	}
	return expires, nil
}

// CreateInvite creates a consultation (status invited), its patient and
// the patient's invite, then delivers it when asked to by e-mail. p is the
// creator, for the object checks: a queue they cannot invite to and a
// doctor who is not an active doctor are both ErrNotFound.
func (s *Service) CreateInvite(ctx context.Context, p authz.Principal, a Actor, in NewInvite) (Issued, error) {
	ttl, _, err := s.inviteTiming(ctx)
	if err != nil {
		return Issued{}, err
	}
	if in.Language, err = s.inviteLanguage(ctx, in.Language); err != nil {
		return Issued{}, err
	}
	now := s.now()
	expires, err := s.validate(&in, now, ttl)
	if err != nil {
		return Issued{}, err
	}
	if in.QueueID != "" && !authz.CanInviteToQueue(p, in.QueueID) {
		return Issued{}, ErrNotFound
	}
	consultationID, participantID, inviteID := newUUID(), newUUID(), newUUID()
	tok := newToken()
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		var ok bool
		if in.QueueID != "" {
			if err := tx.QueryRow(ctx, sqlQueueExists, in.QueueID).Scan(&ok); err != nil {
				return err
			}
		} else if err := tx.QueryRow(ctx, sqlDoctorActive, in.DoctorID).Scan(&ok); err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		if _, err := tx.Exec(ctx, sqlConsultationInsert, consultationID, nullable(in.QueueID), nullable(in.DoctorID),
			a.createdByType(), a.UserID, now); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, sqlParticipantInsert, participantID, consultationID, string(authz.RolePatient),
			s.seal("participants", "first_name", participantID, []byte(in.FirstName)),
			s.seal("participants", "last_name", participantID, []byte(in.LastName)), in.Language, now); err != nil {
			return err
		}
		var tz *string
		if in.ScheduledAt != nil {
			tz = &in.TimeZone
		}
		return s.insertInvite(ctx, tx, a, inviteRecord{
			id: inviteID, consultationID: consultationID, participantID: participantID, token: tok,
			role: authz.RolePatient, delivery: in.Delivery, email: in.Email, phone: in.Phone,
			scheduledAt: in.ScheduledAt, timeZone: tz, expiresAt: expires, note: in.Note, metadata: in.Metadata, now: now,
		})
	})
	if err != nil {
		return Issued{}, err
	}
	return s.issue(ctx, a, inviteID, tok)
}

// inviteRecord is one invites row to insert, in clear.
type inviteRecord struct {
	id, consultationID, participantID string
	token                             Token
	role                              authz.Role
	delivery                          Delivery
	email, phone, note                string
	metadata                          []byte
	scheduledAt                       *time.Time
	timeZone                          *string
	expiresAt, now                    time.Time
}

func (s *Service) insertInvite(ctx context.Context, tx pgx.Tx, a Actor, r inviteRecord) error {
	if _, err := tx.Exec(ctx, sqlInviteInsert, r.id, r.consultationID, r.participantID, r.token.Hash(), string(r.role),
		string(r.delivery), s.seal("invites", "email", r.id, []byte(r.email)), s.seal("invites", "phone", r.id, []byte(r.phone)),
		r.scheduledAt, r.timeZone, r.expiresAt, s.seal("invites", "note", r.id, []byte(r.note)),
		s.seal("invites", "metadata", r.id, r.metadata), a.createdByType(), a.UserID, r.now); err != nil {
		return err
	}
	return s.record(ctx, tx, a, ActionInviteCreated, "invite", r.id, r.consultationID, audit.OutcomeSuccess)
}

// issue delivers a freshly created invite and returns it with its link.
func (s *Service) issue(ctx context.Context, a Actor, inviteID string, tok Token) (Issued, error) {
	link := "https://" + s.p.PatientHost + "/i/" + tok.String()
	inv, err := s.invite(ctx, inviteID)
	if err != nil {
		return Issued{}, err
	}
	if inv.Delivery == DeliveryEmail {
		if inv, err = s.deliver(ctx, a, inv, link); err != nil {
			return Issued{}, err
		}
	}
	return Issued{Invite: inv, Link: link}, nil
}

// deliver mails the invite and records the outcome (sent, or
// delivery_failed with a reason code that holds no address).
func (s *Service) deliver(ctx context.Context, a Actor, inv Invite, link string) (Invite, error) {
	m, err := inviteMessage(inv, link, s.now())
	if err == nil {
		sendCtx, cancel := context.WithTimeout(ctx, s.p.SendTimeout)
		err = s.p.Mail.Send(sendCtx, m)
		cancel()
	}
	to, reason, action, outcome := InviteSent, "", ActionInviteSent, audit.OutcomeSuccess
	if err != nil {
		to, reason, action, outcome = InviteDeliveryFailed, deliveryReason(err), ActionInviteDeliveryFailed, audit.OutcomeFailure
		s.p.Logger.Warn("invite delivery failed", "invite", inv.ID, "reason", reason)
	}
	// The outcome is recorded even if the caller has gone meanwhile: the
	// mail may have left.
	ctx = context.WithoutCancel(ctx)
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		cur, err := s.inviteIn(ctx, tx, sqlInviteForUpdate, inv.ID)
		if err != nil {
			return err
		}
		if !cur.stored.CanBecome(to) {
			return nil // redeemed or revoked meanwhile: that status stands
		}
		if _, err := tx.Exec(ctx, sqlInviteSetStatus, inv.ID, string(to), s.now(), nullable(reason)); err != nil {
			return err
		}
		if err := publishInviteUpdated(ctx, tx, cur); err != nil {
			return err
		}
		return s.record(ctx, tx, a, action, "invite", inv.ID, inv.ConsultationID, outcome)
	})
	if err != nil {
		return Invite{}, err
	}
	return s.invite(ctx, inv.ID)
}

// Invite returns one invite if p may see it: its creator, an admin, or a
// doctor or nurse who sees its queue or is its named doctor. Anything else
// is ErrNotFound.
func (s *Service) Invite(ctx context.Context, p authz.Principal, id string) (Invite, error) {
	inv, err := s.invite(ctx, id)
	if err != nil {
		return Invite{}, err
	}
	if !mayManage(p, inv) {
		return Invite{}, ErrNotFound
	}
	return inv, nil
}

func mayManage(p authz.Principal, inv Invite) bool {
	switch {
	case p.Kind != "user" && p.Kind != "api_key":
		return false
	case p.Role == authz.RoleAdmin, inv.CreatedByID == p.UserID:
		return true
	case p.Kind == "user" && (p.Role == authz.RoleDoctor || p.Role == authz.RoleNurse):
		return (inv.QueueID != "" && authz.CanSeeQueue(p, inv.QueueID)) || inv.DoctorID == p.UserID
	default:
		return false
	}
}

func (s *Service) invite(ctx context.Context, id string) (Invite, error) {
	if !isUUID(id) {
		return Invite{}, ErrNotFound
	}
	var inv Invite
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		inv, err = s.inviteIn(ctx, tx, sqlInviteByID, id)
		return err
	})
	return inv, err
}

func (s *Service) inviteIn(ctx context.Context, tx pgx.Tx, query string, arg any) (Invite, error) {
	rows, _ := tx.Query(ctx, query, arg)
	r, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[inviteRow])
	if err != nil {
		return Invite{}, mapErr(err)
	}
	return s.toInvite(r)
}

func (s *Service) toInvite(r inviteRow) (Invite, error) {
	inv := Invite{
		ID: r.ID, ConsultationID: r.ConsultationID, ParticipantID: r.ParticipantID, Role: authz.Role(r.Role),
		Status: InviteStatus(r.Status), Delivery: Delivery(r.Delivery), Language: r.Language,
		ScheduledAt: r.ScheduledAt, ExpiresAt: r.ExpiresAt, CreatedByType: r.CreatedByType, CreatedByID: r.CreatedByID,
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, RedeemedAt: r.RedeemedAt, RevokedAt: r.RevokedAt,
		ConsultationStatus: Status(r.ConsultationStatus), stored: InviteStatus(r.Status),
	}
	if inv.Status.unredeemed() && !s.now().Before(r.ExpiresAt) {
		inv.Status = InviteExpired
	}
	inv.DeliveryError, inv.TimeZone = deref(r.DeliveryError), deref(r.TimeZone)
	inv.QueueID, inv.DoctorID = deref(r.QueueID), deref(r.DoctorID)
	fields := []struct {
		table, column, id string
		sealed            []byte
		dst               *string
	}{
		{"participants", "first_name", r.ParticipantID, r.FirstNameSealed, &inv.FirstName},
		{"participants", "last_name", r.ParticipantID, r.LastNameSealed, &inv.LastName},
		{"invites", "email", r.ID, r.EmailSealed, &inv.Email},
		{"invites", "phone", r.ID, r.PhoneSealed, &inv.Phone},
		{"invites", "note", r.ID, r.NoteSealed, &inv.Note},
	}
	for _, f := range fields {
		plain, err := s.open(f.table, f.column, f.id, f.sealed)
		if err != nil {
			return Invite{}, err
		}
		*f.dst = string(plain)
	}
	meta, err := s.open("invites", "metadata", r.ID, r.MetadataSealed)
	if err != nil {
		return Invite{}, err
	}
	if meta != nil {
		inv.Metadata = meta
	}
	return inv, nil
}

// ListParams selects a page of invites.
type ListParams struct {
	// Limit is 1 to 100 (default 50).
	Limit int
	// Cursor is Page.Next of the previous page; empty for the first.
	Cursor string
}

// Page is a page of invites, newest first.
type Page struct {
	Invites []Invite
	// Next is the cursor of the following page; empty on the last page.
	Next string
}

// Invites lists the invites p created (through any session or API key of
// their account), newest first.
func (s *Service) Invites(ctx context.Context, p authz.Principal, lp ListParams) (Page, error) {
	if lp.Limit <= 0 || lp.Limit > 100 {
		lp.Limit = 50
	}
	var after *time.Time
	afterID := "00000000-0000-0000-0000-000000000000"
	if lp.Cursor != "" {
		t, id, err := decodeCursor(lp.Cursor)
		if err != nil {
			return Page{}, err
		}
		after, afterID = &t, id
	}
	if !isUUID(p.UserID) {
		return Page{Invites: []Invite{}}, nil
	}
	rows, _ := s.p.Pool.Query(ctx, sqlInviteList, p.UserID, after, afterID, lp.Limit+1)
	list, err := pgx.CollectRows(rows, pgx.RowToStructByName[inviteRow])
	if err != nil {
		return Page{}, mapErr(err)
	}
	page := Page{Invites: make([]Invite, 0, len(list))}
	if len(list) > lp.Limit {
		list = list[:lp.Limit]
		last := list[len(list)-1]
		page.Next = encodeCursor(last.CreatedAt, last.ID)
	}
	for _, r := range list {
		inv, err := s.toInvite(r)
		if err != nil {
			return Page{}, err
		}
		page.Invites = append(page.Invites, inv)
	}
	return page, nil
}

// Revoke revokes an invite: its link stops working, its participant's
// sessions end and participant.revoked closes their open sockets.
func (s *Service) Revoke(ctx context.Context, p authz.Principal, a Actor, id string) (Invite, error) {
	if _, err := s.Invite(ctx, p, id); err != nil {
		return Invite{}, err
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		cur, err := s.inviteIn(ctx, tx, sqlInviteForUpdate, id)
		if err != nil {
			return err
		}
		if !cur.stored.CanBecome(InviteRevoked) {
			return ErrInvalidTransition
		}
		// Out of the call too: the node drops them within seconds. First,
		// before any audit append: a call's row is always locked before
		// the audit chain (see call.go).
		if err := s.removeFromCall(ctx, tx, a, cur.ConsultationID, participantIdentity(cur.ParticipantID)); err != nil {
			return err
		}
		if err := s.revokeIn(ctx, tx, a, cur); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, sqlRevokeParticipantSessions, cur.ParticipantID, s.now()); err != nil {
			return err
		}
		// Every replica closes the participant's open sockets on this event.
		r := consultationRow{ID: cur.ConsultationID}
		if cur.QueueID != "" {
			r.QueueID = &cur.QueueID
		}
		if cur.DoctorID != "" {
			r.DoctorID = &cur.DoctorID
		}
		return events.PublishData(ctx, tx, events.TypeParticipantRevoked,
			map[string]string{"consultation_id": cur.ConsultationID, "participant_id": cur.ParticipantID}, topics(r)...)
	})
	s.p.Media.Nodes.Poke()
	if err != nil {
		return Invite{}, err
	}
	return s.invite(ctx, id)
}

// TypeInviteUpdated is the event of an invite whose status or schedule
// changed (sent, delivery_failed, opened, expired, revoked, rescheduled):
// {invite_id, consultation_id}, to its creator and to the staff who see
// its consultation, so invite lists follow without polling. A redemption
// is told by consultation.pending (a patient) or participant.added.
const TypeInviteUpdated = "invite.updated"

// publishInviteUpdated announces a change of inv.
func publishInviteUpdated(ctx context.Context, tx pgx.Tx, inv Invite) error {
	r := consultationRow{ID: inv.ConsultationID}
	if inv.QueueID != "" {
		r.QueueID = &inv.QueueID
	}
	if inv.DoctorID != "" {
		r.DoctorID = &inv.DoctorID
	}
	t := topics(r)
	if inv.CreatedByType == "user" && inv.CreatedByID != "" && inv.CreatedByID != inv.DoctorID {
		t = append(t, events.Topic(events.KindUser, inv.CreatedByID))
	}
	return events.PublishData(ctx, tx, TypeInviteUpdated, map[string]string{
		"invite_id": inv.ID, "consultation_id": inv.ConsultationID}, t...)
}

func (s *Service) revokeIn(ctx context.Context, tx pgx.Tx, a Actor, cur Invite) error {
	if !cur.stored.CanBecome(InviteRevoked) {
		return ErrInvalidTransition
	}
	if _, err := tx.Exec(ctx, sqlInviteSetStatus, cur.ID, string(InviteRevoked), s.now(), nil); err != nil {
		return err
	}
	if err := publishInviteUpdated(ctx, tx, cur); err != nil {
		return err
	}
	return s.record(ctx, tx, a, ActionInviteRevoked, "invite", cur.ID, cur.ConsultationID, audit.OutcomeSuccess)
}

// Resend replaces an invite whose consultation is not closed with a new
// one: the token is stored hashed, so the old link cannot be sent again.
// The old invite is revoked (its participant's sessions stay), the new
// one has a new token, the same participant, contact details, note,
// metadata and delivery, and a fresh expiry; it is delivered again.
func (s *Service) Resend(ctx context.Context, p authz.Principal, a Actor, id string) (Issued, error) {
	if _, err := s.Invite(ctx, p, id); err != nil {
		return Issued{}, err
	}
	ttl, _, err := s.inviteTiming(ctx)
	if err != nil {
		return Issued{}, err
	}
	newID, tok := newUUID(), newToken()
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		cur, err := s.inviteIn(ctx, tx, sqlInviteForUpdate, id)
		if err != nil {
			return err
		}
		if cur.ConsultationStatus == StatusClosed {
			return ErrConsultationClosed
		}
		if err := s.revokeIn(ctx, tx, a, cur); err != nil {
			return err
		}
		now := s.now()
		expires := now.Add(ttl)
		var tz *string
		if cur.ScheduledAt != nil {
			tz = &cur.TimeZone
			if e := cur.ScheduledAt.Add(ttl); e.After(expires) {
				expires = e
			}
		}
		return s.insertInvite(ctx, tx, a, inviteRecord{
			id: newID, consultationID: cur.ConsultationID, participantID: cur.ParticipantID, token: tok,
			role: cur.Role, delivery: cur.Delivery, email: cur.Email, phone: cur.Phone,
			scheduledAt: cur.ScheduledAt, timeZone: tz, expiresAt: expires, note: cur.Note, metadata: cur.Metadata, now: now,
		})
	})
	if err != nil {
		return Issued{}, err
	}
	return s.issue(ctx, a, newID, tok)
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// deliveryReason classifies a delivery failure into a code fit for the
// database and logs: never the relay's text, which may quote an address.
func deliveryReason(err error) string {
	switch {
	case errors.Is(err, errNoTemplate):
		return "no_template"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, mailErrNotConfigured):
		return "mail_not_configured"
	case errors.Is(err, mailErrInvalidMessage):
		return "invalid_message"
	default:
		return "relay_refused"
	}
}
