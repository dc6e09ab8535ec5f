package signin

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/hcw-home/hcw/backend/internal/audit"
)

// Passkeys (WebAuthn) are the other second factor, next to TOTP.
//
// # Relying party
//
// A passkey is bound to an RP ID, a host name. Staff sign in on the doctor
// app or on the admin app, two hosts, so the relying party is built per
// request from the host the ceremony happens on (the request's effective
// host, X-Forwarded-Host from the edge), after checking that it is one of
// Params.PasskeyHosts. The RP ID is that host name and the only origin
// accepted is https://<that host>[:port]. A passkey registered on the doctor
// app therefore works on the doctor app and not on the admin app; the
// patient host is never a relying party.
//
// # Ceremonies
//
// The options of a ceremony (challenge, RP ID, allowed credentials) are kept
// server-side in webauthn_sessions, one per session and purpose, for
// CeremonyTTL. Answering takes them (deletes them) before the response is
// verified, so a challenge is answered once, rightly or wrongly.

// Passkey limits.
const (
	// CeremonyTTL is how long passkey options stay answerable.
	CeremonyTTL = 5 * time.Minute
	// MaxPasskeys is the most passkeys one user may register.
	MaxPasskeys = 10
	// MaxPasskeyName is the longest passkey label, in characters.
	MaxPasskeyName = 64
	// ActionFactorRemoved records a passkey removed by its owner.
	ActionFactorRemoved = "factor.removed"

	rpDisplayName = "HCW@Home"

	purposeRegister = "register"
	purposeLogin    = "login"
)

// Passkey is a registered credential as its owner sees it.
type Passkey struct {
	// ID is the credential ID, base64url without padding.
	ID         string
	Name       string
	CreatedAt  time.Time
	LastUsedAt *time.Time
}

// PasskeyEnrolResult is the outcome of a registration. Result.Token is set
// only when a password-level session became full (the caller sets the new
// cookie); RecoveryCodes only when the user had no unused ones, to show once.
type PasskeyEnrolResult struct {
	Result
	Passkey       Passkey
	RecoveryCodes []string
}

const (
	sqlSelectPasskeys = `
SELECT id, public_key, attestation_type, aaguid, sign_count, transports, backup_eligible, backup_state,
       name, created_at, last_used_at
FROM webauthn_credentials WHERE user_id = $1 ORDER BY created_at, id`

	sqlInsertPasskey = `
INSERT INTO webauthn_credentials (id, user_id, public_key, attestation_type, aaguid, sign_count, transports,
                                  backup_eligible, backup_state, name, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`

	sqlUsePasskey = `
UPDATE webauthn_credentials SET sign_count = $3, backup_state = $4, last_used_at = $5
WHERE id = $1 AND user_id = $2`

	sqlCountPasskeys  = `SELECT count(*) FROM webauthn_credentials WHERE user_id = $1`
	sqlDeletePasskey  = `DELETE FROM webauthn_credentials WHERE id = $1 AND user_id = $2`
	sqlDeletePasskeys = `DELETE FROM webauthn_credentials WHERE user_id = $1`
	sqlHasTOTP        = `SELECT EXISTS (SELECT 1 FROM totp_factors WHERE user_id = $1 AND confirmed_at IS NOT NULL)`
	sqlHasRecovery    = `SELECT EXISTS (SELECT 1 FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL)`
	// Serialises the factor changes of one user.
	sqlLockUser = `SELECT role FROM users WHERE id = $1 FOR UPDATE`

	sqlPutCeremony = `
INSERT INTO webauthn_sessions (session_id_hash, purpose, data, expires_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (session_id_hash, purpose) DO UPDATE SET data = excluded.data, expires_at = excluded.expires_at`

	sqlTakeCeremony = `
DELETE FROM webauthn_sessions WHERE session_id_hash = $1 AND purpose = $2 RETURNING data, expires_at`

	sqlPurgeCeremonies = `DELETE FROM webauthn_sessions WHERE expires_at <= $1`

	// uniqueViolation is the SQLSTATE of a duplicate key.
	uniqueViolation = "23505"
)

var credentialIDEncoding = base64.RawURLEncoding

type passkeyRow struct {
	ID              []byte     `db:"id"`
	PublicKey       []byte     `db:"public_key"`
	AttestationType string     `db:"attestation_type"`
	AAGUID          []byte     `db:"aaguid"`
	SignCount       int64      `db:"sign_count"`
	Transports      []string   `db:"transports"`
	BackupEligible  bool       `db:"backup_eligible"`
	BackupState     bool       `db:"backup_state"`
	Name            string     `db:"name"`
	CreatedAt       time.Time  `db:"created_at"`
	LastUsedAt      *time.Time `db:"last_used_at"`
}

func (r passkeyRow) credential() webauthn.Credential {
	flags := protocol.FlagUserPresent
	if r.BackupEligible {
		flags |= protocol.FlagBackupEligible
	}
	if r.BackupState {
		flags |= protocol.FlagBackupState
	}
	transports := make([]protocol.AuthenticatorTransport, len(r.Transports))
	for i, t := range r.Transports {
		transports[i] = protocol.AuthenticatorTransport(t)
	}
	return webauthn.Credential{
		ID: r.ID, PublicKey: r.PublicKey, AttestationType: r.AttestationType, Transport: transports,
		Flags:         webauthn.NewCredentialFlags(flags),
		Authenticator: webauthn.Authenticator{AAGUID: r.AAGUID, SignCount: uint32(r.SignCount)},
	}
}

func (r passkeyRow) passkey() Passkey {
	p := Passkey{ID: credentialIDEncoding.EncodeToString(r.ID), Name: r.Name, CreatedAt: r.CreatedAt.UTC()}
	if r.LastUsedAt != nil {
		t := r.LastUsedAt.UTC()
		p.LastUsedAt = &t
	}
	return p
}

// passkeyUser is a user as go-webauthn sees it. The user handle is the
// 16 bytes of the user's UUID: stable, and no personal data.
type passkeyUser struct {
	ref    UserRef
	handle []byte
	creds  []webauthn.Credential
}

func (u passkeyUser) WebAuthnID() []byte                         { return u.handle }
func (u passkeyUser) WebAuthnName() string                       { return u.ref.Email }
func (u passkeyUser) WebAuthnDisplayName() string                { return u.ref.Email }
func (u passkeyUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

func userHandle(userID string) ([]byte, error) {
	b, err := hex.DecodeString(strings.ReplaceAll(userID, "-", ""))
	if err != nil || len(b) != 16 {
		return nil, fmt.Errorf("user id %q is not a UUID", userID)
	}
	return b, nil
}

func normaliseHosts(hosts []string) []string {
	var out []string
	for _, h := range hosts {
		if h = strings.ToLower(strings.TrimSpace(h)); h != "" {
			out = append(out, h)
		}
	}
	return out
}

// relyingParty builds the relying party of host, the effective host[:port]
// of the request: RP ID the host name, one origin https://host[:port].
func (s *Service) relyingParty(host string) (*webauthn.WebAuthn, error) {
	name, port := host, ""
	if h, p, err := net.SplitHostPort(host); err == nil {
		name, port = h, p
	}
	name = strings.ToLower(name)
	if name == "" || !slices.Contains(s.p.PasskeyHosts, name) {
		return nil, ErrPasskeyHost
	}
	origin := "https://" + name
	if port != "" && port != "443" {
		origin += ":" + port
	}
	wa, err := webauthn.New(&webauthn.Config{
		RPID:                  name,
		RPDisplayName:         rpDisplayName,
		RPOrigins:             []string{origin},
		AttestationPreference: protocol.PreferNoAttestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey:      protocol.ResidentKeyRequirementPreferred,
			UserVerification: protocol.VerificationPreferred,
		},
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Timeout: CeremonyTTL, TimeoutUVD: CeremonyTTL},
			Registration: webauthn.TimeoutConfig{Timeout: CeremonyTTL, TimeoutUVD: CeremonyTTL},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("passkey relying party: %w", err)
	}
	return wa, nil
}

// loadPasskeyUser reads the user's credentials.
func (s *Service) loadPasskeyUser(ctx context.Context, q queryer, u UserRef) (passkeyUser, []passkeyRow, error) {
	handle, err := userHandle(u.ID)
	if err != nil {
		return passkeyUser{}, nil, err
	}
	rows, err := q.Query(ctx, sqlSelectPasskeys, u.ID)
	if err != nil {
		return passkeyUser{}, nil, fmt.Errorf("read passkeys: %w", err)
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByName[passkeyRow])
	if err != nil {
		return passkeyUser{}, nil, fmt.Errorf("read passkeys: %w", err)
	}
	pu := passkeyUser{ref: u, handle: handle}
	for _, r := range list {
		pu.creds = append(pu.creds, r.credential())
	}
	return pu, list, nil
}

func (s *Service) putCeremony(ctx context.Context, hash []byte, purpose string, sd *webauthn.SessionData) error {
	if _, err := s.p.Pool.Exec(ctx, sqlPutCeremony, hash, purpose, sd, s.now().Add(CeremonyTTL)); err != nil {
		return fmt.Errorf("store passkey ceremony: %w", err)
	}
	return nil
}

// takeCeremony removes and returns the pending ceremony; ErrNoPendingCeremony
// when there is none or it expired.
func (s *Service) takeCeremony(ctx context.Context, hash []byte, purpose string) (webauthn.SessionData, error) {
	var sd webauthn.SessionData
	var expires time.Time
	err := s.p.Pool.QueryRow(ctx, sqlTakeCeremony, hash, purpose).Scan(&sd, &expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return webauthn.SessionData{}, ErrNoPendingCeremony
	}
	if err != nil {
		return webauthn.SessionData{}, fmt.Errorf("read passkey ceremony: %w", err)
	}
	if !s.now().Before(expires) {
		return webauthn.SessionData{}, ErrNoPendingCeremony
	}
	return sd, nil
}

// mayRegister says whether sess may add a passkey: a full session always,
// a password-level one only to enrol a first factor.
func (s *Service) mayRegister(ctx context.Context, q rowQueryer, sess Session) error {
	if sess.Level == LevelFull {
		return nil
	}
	enrolled, err := s.hasSecondFactorWith(ctx, q, sess.User.ID)
	if err != nil {
		return err
	}
	if enrolled {
		return ErrAlreadyEnrolled
	}
	return nil
}

// BeginPasskeyRegistration returns the credential creation options (the
// JSON for PublicKeyCredential.parseCreationOptionsFromJSON, under
// "publicKey") for a passkey bound to host, the request's effective host.
// Allowed on a full session, and on a password-level session of a user
// with no second factor yet (enrolment). Errors: ErrInvalidSession,
// ErrPasskeyHost, ErrAlreadyEnrolled, ErrPasskeyLimit.
func (s *Service) BeginPasskeyRegistration(ctx context.Context, tok, host string) (json.RawMessage, error) {
	sess, err := s.Validate(ctx, tok)
	if err != nil {
		return nil, err
	}
	hash, _ := hashToken(tok)
	rp, err := s.relyingParty(host)
	if err != nil {
		return nil, err
	}
	if err := s.mayRegister(ctx, s.p.Pool, sess); err != nil {
		return nil, wrapSentinel("begin passkey registration", err)
	}
	pu, _, err := s.loadPasskeyUser(ctx, s.p.Pool, sess.User)
	if err != nil {
		return nil, err
	}
	if len(pu.creds) >= MaxPasskeys {
		return nil, ErrPasskeyLimit
	}
	creation, sd, err := rp.BeginRegistration(pu,
		webauthn.WithExclusions(webauthn.Credentials(pu.creds).CredentialDescriptors()))
	if err != nil {
		return nil, fmt.Errorf("begin passkey registration: %w", err)
	}
	if err := s.putCeremony(ctx, hash, purposeRegister, sd); err != nil {
		return nil, err
	}
	return json.Marshal(creation)
}

// FinishPasskeyRegistration verifies the authenticator's attestation
// response (PublicKeyCredential JSON) against the pending options and stores
// the passkey under name. On a password-level session it completes the
// enrolment: the session becomes full with a new token. Recovery codes are
// issued when the user has no unused ones. Errors: ErrInvalidSession,
// ErrPasskeyHost, ErrInvalidPasskeyName, ErrMalformedCredential,
// ErrThrottled, ErrNoPendingCeremony, ErrInvalidPasskey,
// ErrAlreadyEnrolled, ErrPasskeyExists, ErrPasskeyLimit.
func (s *Service) FinishPasskeyRegistration(ctx context.Context, tok, host, name string, response []byte, c Client) (PasskeyEnrolResult, error) {
	sess, err := s.Validate(ctx, tok)
	if err != nil {
		return PasskeyEnrolResult{}, err
	}
	hash, _ := hashToken(tok)
	rp, err := s.relyingParty(host)
	if err != nil {
		return PasskeyEnrolResult{}, err
	}
	name, err = CleanPasskeyName(name)
	if err != nil {
		return PasskeyEnrolResult{}, err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return PasskeyEnrolResult{}, fmt.Errorf("%w: %s", ErrMalformedCredential, err)
	}
	keys := s.factorKeys(sess.User.ID, c)
	if err := s.checkThrottle(ctx, keys); err != nil {
		return PasskeyEnrolResult{}, err
	}
	if err := s.mayRegister(ctx, s.p.Pool, sess); err != nil {
		return PasskeyEnrolResult{}, wrapSentinel("finish passkey registration", err)
	}
	sd, err := s.takeCeremony(ctx, hash, purposeRegister)
	if err != nil {
		return PasskeyEnrolResult{}, err
	}
	pu, _, err := s.loadPasskeyUser(ctx, s.p.Pool, sess.User)
	if err != nil {
		return PasskeyEnrolResult{}, err
	}
	if sd.RelyingPartyID != rp.Config.RPID {
		return PasskeyEnrolResult{}, s.passkeyFailure(ctx, sess.User.ID, keys, c)
	}
	cred, err := rp.CreateCredential(pu, sd, parsed)
	if err != nil {
		return PasskeyEnrolResult{}, s.passkeyFailure(ctx, sess.User.ID, keys, c)
	}

	expires := sess.ExpiresAt
	if sess.Level == LevelPassword {
		expires = s.now().Add(s.p.AbsoluteLifetime)
	}
	now := s.now()
	out := PasskeyEnrolResult{Passkey: Passkey{ID: credentialIDEncoding.EncodeToString(cred.ID), Name: name, CreatedAt: now}}
	err = pgx.BeginFunc(ctx, s.p.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, sqlLockUser, sess.User.ID); err != nil {
			return fmt.Errorf("lock user: %w", err)
		}
		if err := s.mayRegister(ctx, tx, sess); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, sqlCountPasskeys, sess.User.ID).Scan(&n); err != nil {
			return fmt.Errorf("count passkeys: %w", err)
		}
		if n >= MaxPasskeys {
			return ErrPasskeyLimit
		}
		transports := make([]string, 0, len(cred.Transport))
		for _, t := range cred.Transport {
			transports = append(transports, string(t))
		}
		var aaguid []byte
		if len(cred.Authenticator.AAGUID) == 16 {
			aaguid = cred.Authenticator.AAGUID
		}
		_, err := tx.Exec(ctx, sqlInsertPasskey, cred.ID, sess.User.ID, cred.PublicKey, cred.AttestationType, aaguid,
			int64(cred.Authenticator.SignCount), transports, cred.Flags.BackupEligible, cred.Flags.BackupState, name, now)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == uniqueViolation {
			return ErrPasskeyExists
		}
		if err != nil {
			return fmt.Errorf("store passkey: %w", err)
		}
		var hasCodes bool
		if err := tx.QueryRow(ctx, sqlHasRecovery, sess.User.ID).Scan(&hasCodes); err != nil {
			return fmt.Errorf("read recovery codes: %w", err)
		}
		if !hasCodes {
			if out.RecoveryCodes, err = s.replaceRecoveryCodes(ctx, tx, sess.User.ID); err != nil {
				return err
			}
		}
		if err := s.p.Audit.AppendTx(ctx, tx, audit.Event{ActorType: audit.ActorUser, ActorID: sess.User.ID,
			Action: audit.ActionFactorEnrolled, ObjectType: "passkey", ObjectID: passkeyAuditID(cred.ID),
			ClientIP: c.IP, Outcome: audit.OutcomeSuccess}); err != nil {
			return err
		}
		if sess.Level != LevelPassword {
			return nil
		}
		if out.Result, err = s.rotateTx(ctx, tx, hash, sess.User, LevelFull, expires, c); err != nil {
			return err
		}
		return s.p.Audit.AppendTx(ctx, tx, audit.Event{ActorType: audit.ActorUser, ActorID: sess.User.ID,
			Action: audit.ActionSignInSuccess, ObjectType: "session", ObjectID: out.Session.ID,
			ClientIP: c.IP, Outcome: audit.OutcomeSuccess})
	})
	if err != nil {
		return PasskeyEnrolResult{}, wrapSentinel("finish passkey registration", err)
	}
	if err := s.resetThrottle(ctx, factorKey(sess.User.ID)); err != nil {
		return PasskeyEnrolResult{}, err
	}
	return out, nil
}

// BeginPasskeyLogin returns the credential request options (JSON, under
// "publicKey") for the second step of a password-level session, allowing
// the user's passkeys. Errors: ErrInvalidSession, ErrWrongLevel,
// ErrPasskeyHost, ErrNotEnrolled (no passkey).
func (s *Service) BeginPasskeyLogin(ctx context.Context, tok, host string) (json.RawMessage, error) {
	sess, err := s.Validate(ctx, tok)
	if err != nil {
		return nil, err
	}
	if sess.Level != LevelPassword {
		return nil, ErrWrongLevel
	}
	hash, _ := hashToken(tok)
	rp, err := s.relyingParty(host)
	if err != nil {
		return nil, err
	}
	pu, _, err := s.loadPasskeyUser(ctx, s.p.Pool, sess.User)
	if err != nil {
		return nil, err
	}
	if len(pu.creds) == 0 {
		return nil, ErrNotEnrolled
	}
	assertion, sd, err := rp.BeginLogin(pu, webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		return nil, fmt.Errorf("begin passkey login: %w", err)
	}
	if err := s.putCeremony(ctx, hash, purposeLogin, sd); err != nil {
		return nil, err
	}
	return json.Marshal(assertion)
}

// FinishPasskeyLogin is the second step with a passkey: it verifies the
// assertion (PublicKeyCredential JSON) against the pending options, refuses
// a signature counter that did not grow (a possible clone), and replaces the
// password-level session by a full one (new token). Failures are throttled
// and audited like wrong codes. Errors: ErrInvalidSession, ErrWrongLevel,
// ErrPasskeyHost, ErrMalformedCredential, ErrThrottled,
// ErrNoPendingCeremony, ErrInvalidPasskey.
func (s *Service) FinishPasskeyLogin(ctx context.Context, tok, host string, response []byte, c Client) (Result, error) {
	sess, err := s.Validate(ctx, tok)
	if err != nil {
		return Result{}, err
	}
	if sess.Level != LevelPassword {
		return Result{}, ErrWrongLevel
	}
	hash, _ := hashToken(tok)
	rp, err := s.relyingParty(host)
	if err != nil {
		return Result{}, err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return Result{}, fmt.Errorf("%w: %s", ErrMalformedCredential, err)
	}
	keys := s.factorKeys(sess.User.ID, c)
	if err := s.checkThrottle(ctx, keys); err != nil {
		return Result{}, err
	}
	sd, err := s.takeCeremony(ctx, hash, purposeLogin)
	if err != nil {
		return Result{}, err
	}
	pu, _, err := s.loadPasskeyUser(ctx, s.p.Pool, sess.User)
	if err != nil {
		return Result{}, err
	}
	if sd.RelyingPartyID != rp.Config.RPID {
		return Result{}, s.passkeyFailure(ctx, sess.User.ID, keys, c)
	}
	cred, err := rp.ValidateLogin(pu, sd, parsed)
	if err != nil || cred.Authenticator.CloneWarning {
		// CloneWarning: the counter is non-zero on one side and did not
		// grow, so two copies of the key may exist.
		return Result{}, s.passkeyFailure(ctx, sess.User.ID, keys, c)
	}
	var res Result
	err = pgx.BeginFunc(ctx, s.p.Pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, sqlUsePasskey, cred.ID, sess.User.ID, int64(cred.Authenticator.SignCount),
			cred.Flags.BackupState, s.now())
		if err != nil {
			return fmt.Errorf("record passkey use: %w", err)
		}
		if tag.RowsAffected() != 1 {
			return ErrInvalidPasskey // removed meanwhile
		}
		if res, err = s.rotateTx(ctx, tx, hash, sess.User, LevelFull, s.now().Add(s.p.AbsoluteLifetime), c); err != nil {
			return err
		}
		return s.p.Audit.AppendTx(ctx, tx, audit.Event{ActorType: audit.ActorUser, ActorID: sess.User.ID,
			Action: audit.ActionSignInSuccess, ObjectType: "session", ObjectID: res.Session.ID,
			ClientIP: c.IP, Outcome: audit.OutcomeSuccess})
	})
	if err != nil {
		return Result{}, wrapSentinel("finish passkey login", err)
	}
	if err := s.resetThrottle(ctx, factorKey(sess.User.ID)); err != nil {
		return Result{}, err
	}
	return res, nil
}

// ListPasskeys returns the user's passkeys, oldest first.
func (s *Service) ListPasskeys(ctx context.Context, userID string) ([]Passkey, error) {
	_, rows, err := s.loadPasskeyUser(ctx, s.p.Pool, UserRef{ID: userID})
	if err != nil {
		return nil, err
	}
	out := make([]Passkey, len(rows))
	for i, r := range rows {
		out[i] = r.passkey()
	}
	return out, nil
}

// DeletePasskey removes one of userID's passkeys (id in base64url). It
// refuses with ErrLastFactor when the user is a doctor or an admin and the
// passkey is their last second factor; when a nurse removes their last
// one, their recovery codes go too. ErrPasskeyNotFound for an unknown id.
func (s *Service) DeletePasskey(ctx context.Context, userID, id string, c Client) error {
	credID, err := credentialIDEncoding.DecodeString(id)
	if err != nil || len(credID) == 0 || len(credID) > 1023 {
		return ErrPasskeyNotFound
	}
	err = pgx.BeginFunc(ctx, s.p.Pool, func(tx pgx.Tx) error {
		var role string
		if err := tx.QueryRow(ctx, sqlLockUser, userID).Scan(&role); err != nil {
			return fmt.Errorf("lock user: %w", err)
		}
		tag, err := tx.Exec(ctx, sqlDeletePasskey, credID, userID)
		if err != nil {
			return fmt.Errorf("delete passkey: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return ErrPasskeyNotFound
		}
		left, err := s.hasSecondFactorWith(ctx, tx, userID)
		if err != nil {
			return err
		}
		if !left {
			if role == RoleAdmin || role == RoleDoctor {
				return ErrLastFactor
			}
			if _, err := tx.Exec(ctx, sqlDeleteRecovery, userID); err != nil {
				return fmt.Errorf("delete recovery codes: %w", err)
			}
		}
		return s.p.Audit.AppendTx(ctx, tx, audit.Event{ActorType: audit.ActorUser, ActorID: userID,
			Action: ActionFactorRemoved, ObjectType: "passkey", ObjectID: passkeyAuditID(credID),
			ClientIP: c.IP, Outcome: audit.OutcomeSuccess})
	})
	return wrapSentinel("delete passkey", err)
}

// passkeyFailure records a refused passkey response like a wrong code and
// returns ErrInvalidPasskey.
func (s *Service) passkeyFailure(ctx context.Context, userID string, keys []throttleKey, c Client) error {
	if err := s.codeFailure(ctx, userID, keys, c); !errors.Is(err, ErrInvalidCode) {
		return err
	}
	return ErrInvalidPasskey
}

// passkeyAuditID names a credential in the audit trail: the first 16 bytes
// of the SHA-256 of its ID, in hex (an ID may be longer than an audit id).
func passkeyAuditID(credID []byte) string {
	sum := sha256.Sum256(credID)
	return hex.EncodeToString(sum[:16])
}

// CleanPasskeyName trims a passkey label and checks it: 1 to
// MaxPasskeyName characters, none of them a control character.
func CleanPasskeyName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || !utf8.ValidString(name) || utf8.RuneCountInString(name) > MaxPasskeyName ||
		strings.IndexFunc(name, unicode.IsControl) >= 0 {
		return "", ErrInvalidPasskeyName
	}
	return name, nil
}
