package consultation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/hcw-home/hcw/backend/internal/audit"
	"github.com/hcw-home/hcw/backend/internal/authz"
	"github.com/hcw-home/hcw/backend/internal/events"
	"github.com/hcw-home/hcw/backend/internal/mail"
	"github.com/hcw-home/hcw/backend/internal/throttle"
)

// Interpreter organisations and requests
//
// An interpreter organisation is a group of interpreters outside the
// system, known by their e-mail addresses, with the languages it covers.
// A doctor who manages a consultation's participants requests an
// interpreter of an organisation in a language: every member is mailed a
// one-time accept link (https://<patient host>/interpreter/<token>, the
// token stored hashed). The first member to accept gets an interpreter
// invite for the consultation, the usual invite machinery with role
// interpreter, and its link in the answer; the others' links then answer
// ErrRequestTaken. An open request expires after InterpreterRequestTTL;
// its links then answer ErrRequestExpired. The doctor hears of both
// outcomes live (interpreter_request.accepted, interpreter_request.expired).

// Audit actions of interpreter organisations and requests.
const (
	ActionOrganisationCreated         = "interpreter_organisation.created"
	ActionOrganisationChanged         = "interpreter_organisation.changed"
	ActionOrganisationDeleted         = "interpreter_organisation.deleted"
	ActionInterpreterRequested        = "interpreter_request.created"
	ActionInterpreterRequestAccepted  = "interpreter_request.accepted"
	ActionInterpreterRequestRefused   = "interpreter_request.refused"
	ActionInterpreterRequestExpired   = "interpreter_request.expired"
	ActionInterpreterRequestMailFails = "interpreter_request.delivery_failed"
)

// Event types of interpreter requests, to the requesting doctor and the
// consultation's doctor: {consultation_id, request_id} and, when
// accepted, participant_id.
const (
	TypeInterpreterRequestAccepted = "interpreter_request.accepted"
	TypeInterpreterRequestExpired  = "interpreter_request.expired"
)

// Limits of organisations and requests.
const (
	// DefaultInterpreterRequestTTL is how long a request waits for an
	// accept (HCW_INTERPRETER_REQUEST_TTL).
	DefaultInterpreterRequestTTL = 48 * time.Hour
	// MaxOrganisationMembers bounds an organisation's members, hence the
	// mails of one request.
	MaxOrganisationMembers = 100
	// MaxOrganisationLanguages bounds its languages.
	MaxOrganisationLanguages = 50
	// DefaultInterpreterSweep is how often expired requests are looked for.
	DefaultInterpreterSweep = 30 * time.Second
)

// Errors of organisations and requests.
var (
	// ErrOrganisationNameTaken means another organisation has that name.
	ErrOrganisationNameTaken = errors.New("an interpreter organisation with this name already exists")
	// ErrRequestInvalid means an accept token is malformed or unknown.
	ErrRequestInvalid = errors.New("invalid interpreter request link")
	// ErrRequestTaken means another member accepted first.
	ErrRequestTaken = errors.New("the interpreter request was already taken")
	// ErrRequestExpired means the request expired unanswered.
	ErrRequestExpired = errors.New("the interpreter request expired")
)

// Organisation is an interpreter organisation.
type Organisation struct {
	ID           string
	Name         string
	Languages    []string
	ContactEmail string
	// Members are the interpreters' e-mail addresses.
	Members   []string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// OrganisationInput creates or replaces an organisation.
type OrganisationInput struct {
	Name         string
	Languages    []string
	ContactEmail string
	Members      []string
}

type organisationRow struct {
	ID                 string    `db:"id"`
	Name               string    `db:"name"`
	Languages          []string  `db:"languages"`
	ContactEmailSealed []byte    `db:"contact_email_sealed"`
	MembersSealed      []byte    `db:"members_sealed"`
	CreatedAt          time.Time `db:"created_at"`
	UpdatedAt          time.Time `db:"updated_at"`
}

const organisationColumns = `id::text AS id, name, languages, contact_email_sealed, members_sealed, created_at, updated_at`

const (
	sqlOrganisationInsert = `
INSERT INTO interpreter_organisations (id, name, languages, contact_email_sealed, members_sealed, created_at, updated_at, name_key)
VALUES ($1, $2, $3, $4, $5, $6, $6, $7)`
	sqlOrganisationUpdate = `
UPDATE interpreter_organisations SET name = $2, languages = $3, contact_email_sealed = $4, members_sealed = $5, updated_at = $6,
    name_key = $7
WHERE id = $1`
	sqlOrganisationDelete = `DELETE FROM interpreter_organisations WHERE id = $1`
	sqlOrganisationByID   = `SELECT ` + organisationColumns + ` FROM interpreter_organisations WHERE id = $1`
	sqlOrganisationList   = `SELECT ` + organisationColumns + ` FROM interpreter_organisations ORDER BY name_key, id`

	sqlInterpreterRequestInsert = `
INSERT INTO interpreter_requests (id, consultation_id, organisation_id, language, requested_by, status, created_at, expires_at)
VALUES ($1, $2, $3, $4, $5, 'open', $6, $7)`
	sqlInterpreterLinkInsert = `
INSERT INTO interpreter_request_links (id, request_id, token_hash, email_sealed) VALUES ($1, $2, $3, $4)`
	sqlInterpreterLinkLock = `
SELECT l.id::text, l.email_sealed, r.id::text, r.consultation_id::text, r.language, r.requested_by::text, r.status,
    r.expires_at, coalesce(o.name, '')
FROM interpreter_request_links l JOIN interpreter_requests r ON r.id = l.request_id
LEFT JOIN interpreter_organisations o ON o.id = r.organisation_id
WHERE l.token_hash = $1
FOR UPDATE OF r`
	sqlInterpreterRequestAccept = `
UPDATE interpreter_requests SET status = 'accepted', accepted_at = $2, invite_id = $3 WHERE id = $1`
	sqlInterpreterRequestExpire = `UPDATE interpreter_requests SET status = 'expired' WHERE id = $1 AND status = 'open'`
	sqlInterpreterRequestsDue   = `
SELECT id::text FROM interpreter_requests WHERE status = 'open' AND expires_at <= $1 ORDER BY expires_at LIMIT 100
FOR UPDATE SKIP LOCKED`
	sqlInterpreterRequestInfo = `SELECT consultation_id::text, requested_by::text FROM interpreter_requests WHERE id = $1`
)

func (s *Service) validateOrganisation(in *OrganisationInput) error {
	var err error
	if in.Name, err = cleanName("name", in.Name); err != nil {
		return err
	}
	if len(in.Languages) == 0 || len(in.Languages) > MaxOrganisationLanguages {
		return invalid("languages", fmt.Sprintf("give 1 to %d language tags", MaxOrganisationLanguages))
	}
	langs := make([]string, 0, len(in.Languages))
	for _, l := range in.Languages {
		l = strings.TrimSpace(l)
		if !languagePattern.MatchString(l) {
			return invalid("languages", "must be language tags such as en or fr-CH")
		}
		if !slices.Contains(langs, l) {
			langs = append(langs, l)
		}
	}
	in.Languages = langs
	if in.ContactEmail, err = normalizeEmail(in.ContactEmail); err != nil {
		return invalid("contact_email", "must be an e-mail address such as name@example.org")
	}
	if len(in.Members) == 0 || len(in.Members) > MaxOrganisationMembers {
		return invalid("members", fmt.Sprintf("give 1 to %d e-mail addresses", MaxOrganisationMembers))
	}
	members := make([]string, 0, len(in.Members))
	for _, m := range in.Members {
		e, err := normalizeEmail(m)
		if err != nil || e == "" {
			return invalid("members", "must be e-mail addresses such as name@example.org")
		}
		if !slices.Contains(members, e) {
			members = append(members, e)
		}
	}
	in.Members = members
	return nil
}

func (s *Service) toOrganisation(r organisationRow) (Organisation, error) {
	o := Organisation{ID: r.ID, Name: r.Name, Languages: r.Languages, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
	contact, err := s.open("interpreter_organisations", "contact_email", r.ID, r.ContactEmailSealed)
	if err != nil {
		return Organisation{}, err
	}
	o.ContactEmail = string(contact)
	members, err := s.open("interpreter_organisations", "members", r.ID, r.MembersSealed)
	if err != nil {
		return Organisation{}, err
	}
	if err := json.Unmarshal(members, &o.Members); err != nil {
		return Organisation{}, fmt.Errorf("members of organisation %s: %w", r.ID, err)
	}
	return o, nil
}

func mapOrganisationErr(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == pgUniqueViolation && pgErr.ConstraintName == "interpreter_organisations_name_key" {
		return ErrOrganisationNameTaken
	}
	return err
}

func (s *Service) organisationIn(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, id string) (Organisation, error) {
	if !isUUID(id) {
		return Organisation{}, ErrNotFound
	}
	rows, _ := q.Query(ctx, sqlOrganisationByID, id)
	r, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[organisationRow])
	if err != nil {
		return Organisation{}, mapErr(err)
	}
	return s.toOrganisation(r)
}

// Organisations lists every interpreter organisation by name.
func (s *Service) Organisations(ctx context.Context) ([]Organisation, error) {
	rows, _ := s.p.Pool.Query(ctx, sqlOrganisationList)
	list, err := pgx.CollectRows(rows, pgx.RowToStructByName[organisationRow])
	if err != nil {
		return nil, mapErr(err)
	}
	out := make([]Organisation, 0, len(list))
	for _, r := range list {
		o, err := s.toOrganisation(r)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

// Organisation returns one organisation.
func (s *Service) Organisation(ctx context.Context, id string) (Organisation, error) {
	return s.organisationIn(ctx, s.p.Pool, id)
}

// CreateOrganisation adds an organisation (audited).
func (s *Service) CreateOrganisation(ctx context.Context, a Actor, in OrganisationInput) (Organisation, error) {
	if err := s.validateOrganisation(&in); err != nil {
		return Organisation{}, err
	}
	id := newUUID()
	members, _ := json.Marshal(in.Members)
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, sqlOrganisationInsert, id, in.Name, in.Languages,
			s.seal("interpreter_organisations", "contact_email", id, []byte(in.ContactEmail)),
			s.seal("interpreter_organisations", "members", id, members), s.now(), nameKey(in.Name)); err != nil {
			return mapOrganisationErr(err)
		}
		return s.record(ctx, tx, a, ActionOrganisationCreated, "interpreter_organisation", id, "", audit.OutcomeSuccess)
	})
	if err != nil {
		return Organisation{}, err
	}
	return s.Organisation(ctx, id)
}

// nameKey is what makes two organisation names the same: Go's Unicode
// lower-casing, not the database's (which depends on its locale).
func nameKey(name string) string { return strings.ToLower(name) }

// UpdateOrganisation replaces an organisation's fields (audited). Open
// requests keep the links already mailed.
func (s *Service) UpdateOrganisation(ctx context.Context, a Actor, id string, in OrganisationInput) (Organisation, error) {
	if !isUUID(id) {
		return Organisation{}, ErrNotFound
	}
	if err := s.validateOrganisation(&in); err != nil {
		return Organisation{}, err
	}
	members, _ := json.Marshal(in.Members)
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, sqlOrganisationUpdate, id, in.Name, in.Languages,
			s.seal("interpreter_organisations", "contact_email", id, []byte(in.ContactEmail)),
			s.seal("interpreter_organisations", "members", id, members), s.now(), nameKey(in.Name))
		if err != nil {
			return mapOrganisationErr(err)
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		return s.record(ctx, tx, a, ActionOrganisationChanged, "interpreter_organisation", id, "", audit.OutcomeSuccess)
	})
	if err != nil {
		return Organisation{}, err
	}
	return s.Organisation(ctx, id)
}

// DeleteOrganisation removes an organisation (audited); links already
// mailed for its open requests keep working until they expire.
func (s *Service) DeleteOrganisation(ctx context.Context, a Actor, id string) error {
	if !isUUID(id) {
		return ErrNotFound
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, sqlOrganisationDelete, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		return s.record(ctx, tx, a, ActionOrganisationDeleted, "interpreter_organisation", id, "", audit.OutcomeSuccess)
	})
}

// InterpreterRequest is a doctor's request for an interpreter.
type InterpreterRequest struct {
	ID             string
	ConsultationID string
	OrganisationID string
	Language       string
	Status         string
	CreatedAt      time.Time
	ExpiresAt      time.Time
	// Mailed is how many members the accept link reached the relay for.
	Mailed int
}

// languageCovered reports whether an organisation's languages cover
// want: the same tag, or the same base language ("fr" covers "fr-CH"
// and the other way round).
func languageCovered(langs []string, want string) bool {
	base := func(s string) string { b, _, _ := strings.Cut(s, "-"); return b }
	for _, l := range langs {
		if strings.EqualFold(l, want) || base(l) == base(want) {
			return true
		}
	}
	return false
}

// RequestInterpreter asks organisation organisationID for an interpreter
// in language for consultation consultationID, as a doctor who manages
// its participants (ErrNotFound otherwise): every member is mailed a
// one-time accept link. A language the organisation does not cover is a
// *FieldError.
func (s *Service) RequestInterpreter(ctx context.Context, p authz.Principal, a Actor, consultationID, organisationID, language string) (InterpreterRequest, error) {
	language = strings.TrimSpace(language)
	if !languagePattern.MatchString(language) {
		return InterpreterRequest{}, invalid("language", "must be a language tag such as en or fr-CH")
	}
	if !isUUID(organisationID) {
		return InterpreterRequest{}, invalid("organisation_id", "names no interpreter organisation")
	}
	id := newUUID()
	now := s.now()
	req := InterpreterRequest{ID: id, ConsultationID: consultationID, OrganisationID: organisationID, Language: language,
		Status: "open", CreatedAt: now, ExpiresAt: now.Add(s.p.InterpreterRequestTTL)}
	type link struct{ email, token string }
	var links []link
	var orgName string
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		r, err := s.row(ctx, tx, sqlConsultationRowLocked, consultationID)
		if err != nil {
			return err
		}
		if !managesParticipants(p, r) {
			return ErrNotFound
		}
		if Status(r.Status) == StatusClosed {
			return ErrConsultationClosed
		}
		org, err := s.organisationIn(ctx, tx, organisationID)
		if errors.Is(err, ErrNotFound) {
			return invalid("organisation_id", "names no interpreter organisation")
		}
		if err != nil {
			return err
		}
		if !languageCovered(org.Languages, language) {
			return invalid("language", "is not among the organisation's languages")
		}
		orgName = org.Name
		req.ConsultationID = r.ID
		if _, err := tx.Exec(ctx, sqlInterpreterRequestInsert, id, r.ID, org.ID, language, p.UserID, now, req.ExpiresAt); err != nil {
			return err
		}
		for _, m := range org.Members {
			linkID, tok := newUUID(), newToken()
			if _, err := tx.Exec(ctx, sqlInterpreterLinkInsert, linkID, id, tok.Hash(),
				s.seal("interpreter_request_links", "email", linkID, []byte(m))); err != nil {
				return err
			}
			links = append(links, link{email: m, token: tok.String()})
		}
		return s.record(ctx, tx, a, ActionInterpreterRequested, "interpreter_request", id, r.ID, audit.OutcomeSuccess)
	})
	if err != nil {
		return InterpreterRequest{}, err
	}
	// Mailed after the commit, one member at a time: a relay refusing one
	// address does not stop the others.
	failed := 0
	for _, l := range links {
		m := interpreterRequestMessage(l.email, language, orgName, "https://"+s.p.PatientHost+"/interpreter/"+l.token, req.ExpiresAt)
		sendCtx, cancel := context.WithTimeout(ctx, s.p.SendTimeout)
		err := s.p.Mail.Send(sendCtx, m)
		cancel()
		if err != nil {
			failed++
			s.p.Logger.Warn("interpreter request delivery failed", "request", id, "reason", deliveryReason(err))
			continue
		}
		req.Mailed++
	}
	if failed > 0 {
		if err := s.p.Audit.Append(context.WithoutCancel(ctx), audit.Event{ActorType: a.Type, ActorID: a.ID, ClientIP: a.ClientIP,
			Action: ActionInterpreterRequestMailFails, ObjectType: "interpreter_request", ObjectID: id,
			ConsultationID: req.ConsultationID, Outcome: audit.OutcomeFailure}); err != nil {
			return InterpreterRequest{}, err
		}
	}
	return req, nil
}

// AcceptInterpreterRequest takes the request of an accept link for the
// member it was mailed to: the first one gets an interpreter invite for
// the consultation (delivered as a link, in the answer), named firstName
// lastName (defaults: "Interpreter" and the organisation's name). Unknown
// tokens count against the client address like invite redemptions.
func (s *Service) AcceptInterpreterRequest(ctx context.Context, rawToken, firstName, lastName string, client netip.Addr) (Issued, error) {
	key := clientKey(client)
	if err := s.checkThrottle(ctx, key); err != nil {
		return Issued{}, err
	}
	tok, err := ParseInviteToken(rawToken)
	if err != nil {
		return Issued{}, s.acceptFailed(ctx, key, client)
	}
	ttl, _, err := s.inviteTiming(ctx)
	if err != nil {
		return Issued{}, err
	}
	participantID, inviteID, inviteTok := newUUID(), newUUID(), newToken()
	var refusal error
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		var linkID, requestID, consultationID, language, requestedBy, status, orgName string
		var emailSealed []byte
		var expiresAt time.Time
		if err := tx.QueryRow(ctx, sqlInterpreterLinkLock, tok.Hash()).Scan(&linkID, &emailSealed, &requestID, &consultationID,
			&language, &requestedBy, &status, &expiresAt, &orgName); err != nil {
			return err
		}
		member := Actor{Type: audit.ActorSystem, ClientIP: client}
		now := s.now()
		refuse := func(e error) error {
			refusal = e
			return s.record(ctx, tx, member, ActionInterpreterRequestRefused, "interpreter_request", requestID, consultationID, audit.OutcomeDenied)
		}
		r, err := s.row(ctx, tx, sqlConsultationRowLocked, consultationID)
		if err != nil {
			return err
		}
		switch {
		case status == "accepted":
			return refuse(ErrRequestTaken)
		case status == "expired":
			return refuse(ErrRequestExpired)
		case !now.Before(expiresAt):
			if err := s.expireRequest(ctx, tx, requestID); err != nil {
				return err
			}
			return refuse(ErrRequestExpired)
		case Status(r.Status) == StatusClosed:
			return refuse(ErrConsultationClosed)
		}
		email, err := s.open("interpreter_request_links", "email", linkID, emailSealed)
		if err != nil {
			return err
		}
		if firstName == "" {
			firstName = "Interpreter"
		}
		if lastName == "" {
			lastName = orgName
		}
		if lastName == "" {
			lastName = language
		}
		person := NewInvite{FirstName: firstName, LastName: lastName, Email: string(email), Language: language, Delivery: DeliveryLink}
		if err := validatePerson(&person); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, sqlParticipantInsert, participantID, r.ID, string(authz.RoleInterpreter),
			s.seal("participants", "first_name", participantID, []byte(person.FirstName)),
			s.seal("participants", "last_name", participantID, []byte(person.LastName)), person.Language, now); err != nil {
			return err
		}
		// The invite is the requesting doctor's, as if they had added the
		// interpreter themselves.
		doctor := Actor{Type: audit.ActorUser, ID: requestedBy, UserID: requestedBy, ClientIP: client}
		if err := s.insertInvite(ctx, tx, doctor, inviteRecord{
			id: inviteID, consultationID: r.ID, participantID: participantID, token: inviteTok,
			role: authz.RoleInterpreter, delivery: DeliveryLink, email: person.Email,
			expiresAt: now.Add(ttl), now: now,
		}); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, sqlInterpreterRequestAccept, requestID, now, inviteID); err != nil {
			return err
		}
		if err := s.record(ctx, tx, member, ActionInterpreterRequestAccepted, "interpreter_request", requestID, r.ID, audit.OutcomeSuccess); err != nil {
			return err
		}
		if err := events.PublishData(ctx, tx, TypeParticipantAdded, map[string]string{"consultation_id": r.ID,
			"participant_id": participantID, "role": string(authz.RoleInterpreter)}, topics(r)...); err != nil {
			return err
		}
		return events.PublishData(ctx, tx, TypeInterpreterRequestAccepted,
			map[string]string{"consultation_id": r.ID, "request_id": requestID, "participant_id": participantID},
			requestTopics(r, requestedBy)...)
	})
	switch {
	case errors.Is(err, ErrNotFound):
		return Issued{}, s.acceptFailed(ctx, key, client)
	case err != nil:
		var fe *FieldError
		if errors.As(err, &fe) {
			return Issued{}, err
		}
		return Issued{}, fmt.Errorf("accept interpreter request: %w", err)
	case refusal != nil:
		return Issued{}, refusal
	}
	return s.issue(ctx, Actor{Type: audit.ActorSystem, ClientIP: client}, inviteID, inviteTok)
}

// requestTopics are where a request's outcome goes: the doctor who asked
// and the consultation's doctor.
func requestTopics(r consultationRow, requestedBy string) []string {
	t := []string{events.Topic(events.KindUser, requestedBy)}
	if r.DoctorID != nil && *r.DoctorID != requestedBy {
		t = append(t, events.Topic(events.KindUser, *r.DoctorID))
	}
	return t
}

// expireRequest marks an open request expired and tells its doctor.
func (s *Service) expireRequest(ctx context.Context, tx pgx.Tx, requestID string) error {
	tag, err := tx.Exec(ctx, sqlInterpreterRequestExpire, requestID)
	if err != nil || tag.RowsAffected() == 0 {
		return err
	}
	var consultationID, requestedBy string
	if err := tx.QueryRow(ctx, sqlInterpreterRequestInfo, requestID).Scan(&consultationID, &requestedBy); err != nil {
		return err
	}
	if err := s.p.Audit.AppendTx(ctx, tx, audit.Event{ActorType: audit.ActorSystem, Action: ActionInterpreterRequestExpired,
		ObjectType: "interpreter_request", ObjectID: requestID, ConsultationID: consultationID, Outcome: audit.OutcomeSuccess}); err != nil {
		return err
	}
	r, err := s.row(ctx, tx, sqlConsultationRow, consultationID)
	if err != nil {
		return err
	}
	return events.PublishData(ctx, tx, TypeInterpreterRequestExpired,
		map[string]string{"consultation_id": consultationID, "request_id": requestID}, requestTopics(r, requestedBy)...)
}

// ExpireInterpreterRequests expires the open requests past their expiry
// and returns how many.
func (s *Service) ExpireInterpreterRequests(ctx context.Context) (int64, error) {
	var n int64
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, sqlInterpreterRequestsDue, s.now())
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		for _, id := range ids {
			if err := s.expireRequest(ctx, tx, id); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("expire interpreter requests: %w", err)
	}
	return n, nil
}

// RunInterpreterRequestExpiry expires overdue requests every interval
// until ctx ends.
func (s *Service) RunInterpreterRequestExpiry(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := s.ExpireInterpreterRequests(ctx); err != nil && ctx.Err() == nil {
			s.p.Logger.Error("interpreter request expiry", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// acceptFailed counts a failure of the address, audits it and returns
// ErrRequestInvalid.
func (s *Service) acceptFailed(ctx context.Context, key string, client netip.Addr) error {
	err := pgx.BeginFunc(ctx, s.p.Pool, func(tx pgx.Tx) error {
		if err := s.throttle.Fail(ctx, tx, s.now(), throttle.Key{Name: key, Threshold: s.p.RedeemThreshold}); err != nil {
			return err
		}
		return s.p.Audit.AppendTx(ctx, tx, audit.Event{ActorType: audit.ActorSystem, ClientIP: client,
			Action: ActionInterpreterRequestRefused, ObjectType: "interpreter_request", Outcome: audit.OutcomeFailure})
	})
	if err != nil {
		return fmt.Errorf("record failed accept: %w", err)
	}
	return ErrRequestInvalid
}

// interpreterRequestText is the request mail in one language:
// %[1]s the language asked for, %[2]s the organisation, %[3]s the link,
// %[4]s the expiry (UTC).
type interpreterRequestText struct{ subject, body string }

var interpreterRequestCatalog = map[string]interpreterRequestText{
	"en": {
		subject: "Interpreter needed for a teleconsultation",
		body: "Hello,\n\nAn interpreter for %[1]s is needed for a teleconsultation (request through %[2]s). " +
			"The first interpreter to accept takes it; open this link to accept:\n\n%[3]s\n\n" +
			"The request stays open until %[4]s. Keep this link to yourself.\n",
	},
	"fr": {
		subject: "Interprète demandé(e) pour une téléconsultation",
		body: "Bonjour,\n\nUne téléconsultation a besoin d'un(e) interprète en %[1]s (demande par %[2]s). " +
			"Le premier ou la première interprète qui accepte la prend ; ouvrez ce lien pour accepter :\n\n%[3]s\n\n" +
			"La demande reste ouverte jusqu'au %[4]s. Ne transmettez ce lien à personne.\n",
	},
}

// interpreterRequestMessage builds one member's mail, in the requested
// language when the catalog has it (its base language, else English).
func interpreterRequestMessage(to, language, organisation, link string, expires time.Time) mail.Message {
	lang := language
	t, ok := interpreterRequestCatalog[lang]
	if !ok {
		lang, _, _ = strings.Cut(language, "-")
		if t, ok = interpreterRequestCatalog[lang]; !ok {
			lang, t = "en", interpreterRequestCatalog["en"]
		}
	}
	return mail.Message{To: []string{to}, Subject: t.subject, Language: lang,
		Text: fmt.Sprintf(t.body, language, organisation, link, expires.UTC().Format("2006-01-02 15:04 UTC"))}
}
