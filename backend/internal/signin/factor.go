package signin

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hcw-home/hcw/backend/internal/audit"
	"github.com/hcw-home/hcw/backend/internal/signin/totp"
)

// RecoveryCodeCount is how many recovery codes an enrolment yields.
const RecoveryCodeCount = 10

// Recovery codes are 80 random bits written as 16 base32 characters in
// groups of four ("abcd-efgh-ijkl-mnop"). With 80 bits there is nothing to
// guess from, so a plain SHA-256 is a sufficient hash: a stolen hash table
// would take about 2^79 hash computations per code on average.
const (
	recoveryBytes = 10
	recoveryChars = 16
	recoveryGroup = 4
)

var recoveryEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

const (
	sqlHasSecondFactor = `
SELECT EXISTS (SELECT 1 FROM totp_factors WHERE user_id = $1 AND confirmed_at IS NOT NULL)
    OR EXISTS (SELECT 1 FROM webauthn_credentials WHERE user_id = $1)`

	// Replaces a pending enrolment, never a confirmed one.
	sqlUpsertPendingTOTP = `
INSERT INTO totp_factors AS f (user_id, secret_sealed, created_at)
VALUES ($1, $2, $3)
ON CONFLICT (user_id) DO UPDATE SET
    secret_sealed = excluded.secret_sealed, created_at = excluded.created_at, last_used_step = 0
WHERE f.confirmed_at IS NULL`

	sqlLockTOTP = `
SELECT secret_sealed, confirmed_at, last_used_step FROM totp_factors WHERE user_id = $1 FOR UPDATE`

	sqlUseTOTPStep    = `UPDATE totp_factors SET last_used_step = $2 WHERE user_id = $1`
	sqlConfirmTOTP    = `UPDATE totp_factors SET confirmed_at = $2, last_used_step = $3 WHERE user_id = $1`
	sqlDeleteTOTP     = `DELETE FROM totp_factors WHERE user_id = $1`
	sqlDeleteRecovery = `DELETE FROM recovery_codes WHERE user_id = $1`
	sqlInsertRecovery = `INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES ($1, $2, $3)`
	sqlUseRecovery    = `
UPDATE recovery_codes SET used_at = $3 WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL`
)

// TOTPSecretAAD is the additional data that binds a sealed TOTP secret
// (totp_factors.secret_sealed) to its user.
func TOTPSecretAAD(userID string) []byte { return []byte("totp.secret:" + userID) }

// HasSecondFactor reports whether userID has a confirmed second factor: a
// confirmed TOTP secret or at least one passkey.
func (s *Service) HasSecondFactor(ctx context.Context, userID string) (bool, error) {
	return s.hasSecondFactorWith(ctx, s.p.Pool, userID)
}

type rowQueryer interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func (s *Service) hasSecondFactorWith(ctx context.Context, q rowQueryer, userID string) (bool, error) {
	var ok bool
	if err := q.QueryRow(ctx, sqlHasSecondFactor, userID).Scan(&ok); err != nil {
		return false, fmt.Errorf("read second factor: %w", err)
	}
	return ok, nil
}

// BeginEnrolment creates (or replaces) a pending TOTP secret for the user
// of a valid session at either level, and returns it with its otpauth URI
// and QR code, to show once. ErrAlreadyEnrolled if a factor is confirmed.
func (s *Service) BeginEnrolment(ctx context.Context, tok string) (totp.Enrolment, error) {
	sess, err := s.Validate(ctx, tok)
	if err != nil {
		return totp.Enrolment{}, err
	}
	e, err := totp.Generate(sess.User.Email)
	if err != nil {
		return totp.Enrolment{}, err
	}
	sealedSecret, err := s.p.Keyring.Seal([]byte(e.Secret), TOTPSecretAAD(sess.User.ID))
	if err != nil {
		return totp.Enrolment{}, fmt.Errorf("seal totp secret: %w", err)
	}
	tag, err := s.p.Pool.Exec(ctx, sqlUpsertPendingTOTP, sess.User.ID, sealedSecret, s.now())
	if err != nil {
		return totp.Enrolment{}, fmt.Errorf("store totp secret: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return totp.Enrolment{}, ErrAlreadyEnrolled
	}
	return e, nil
}

// EnrolResult is the session after a confirmed enrolment and the recovery
// codes, to show once; only their hashes are kept.
type EnrolResult struct {
	Result
	RecoveryCodes []string
}

// ConfirmEnrolment completes a pending enrolment with one valid code,
// issues RecoveryCodeCount recovery codes (replacing any older ones) and
// rotates the session to a full one: proving the new factor is the second
// factor. A password-level session gets a fresh absolute lifetime, a full
// one keeps its own. Errors: ErrInvalidSession, ErrThrottled,
// ErrNoPendingEnrolment, ErrAlreadyEnrolled, ErrInvalidCode.
func (s *Service) ConfirmEnrolment(ctx context.Context, tok, code string, c Client) (EnrolResult, error) {
	sess, err := s.Validate(ctx, tok)
	if err != nil {
		return EnrolResult{}, err
	}
	hash, _ := hashToken(tok)
	keys := s.factorKeys(sess.User.ID, c)
	if err := s.checkThrottle(ctx, keys); err != nil {
		return EnrolResult{}, err
	}
	expires := sess.ExpiresAt
	if sess.Level == LevelPassword {
		expires = s.now().Add(s.p.AbsoluteLifetime)
	}
	var out EnrolResult
	err = pgx.BeginFunc(ctx, s.p.Pool, func(tx pgx.Tx) error {
		secret, confirmed, lastUsed, err := s.lockTOTP(ctx, tx, sess.User.ID)
		if errors.Is(err, ErrNotEnrolled) {
			return ErrNoPendingEnrolment
		}
		if err != nil {
			return err
		}
		if confirmed {
			return ErrAlreadyEnrolled
		}
		step, err := s.matchTOTP(secret, code, lastUsed)
		if err != nil {
			return err
		}
		now := s.now()
		if _, err := tx.Exec(ctx, sqlConfirmTOTP, sess.User.ID, now, step); err != nil {
			return fmt.Errorf("confirm totp: %w", err)
		}
		if out.RecoveryCodes, err = s.replaceRecoveryCodes(ctx, tx, sess.User.ID); err != nil {
			return err
		}
		if err := s.p.Audit.AppendTx(ctx, tx, audit.Event{ActorType: audit.ActorUser, ActorID: sess.User.ID,
			Action: audit.ActionFactorEnrolled, ObjectType: "totp_factor", ObjectID: sess.User.ID,
			ClientIP: c.IP, Outcome: audit.OutcomeSuccess}); err != nil {
			return err
		}
		if out.Result, err = s.rotateTx(ctx, tx, hash, sess.User, LevelFull, expires, c); err != nil {
			return err
		}
		if sess.Level == LevelPassword {
			return s.p.Audit.AppendTx(ctx, tx, audit.Event{ActorType: audit.ActorUser, ActorID: sess.User.ID,
				Action: audit.ActionSignInSuccess, ObjectType: "session", ObjectID: out.Session.ID,
				ClientIP: c.IP, Outcome: audit.OutcomeSuccess})
		}
		return nil
	})
	if errors.Is(err, ErrInvalidCode) {
		return EnrolResult{}, s.codeFailure(ctx, sess.User.ID, keys, c)
	}
	if err != nil {
		return EnrolResult{}, wrapSentinel("confirm enrolment", err)
	}
	if err := s.resetThrottle(ctx, factorKey(sess.User.ID)); err != nil {
		return EnrolResult{}, err
	}
	return out, nil
}

// ResetFactor removes the user's TOTP secret, passkeys and recovery codes (an admin
// action, e.g. a lost phone) and ends all their sessions, so that the next
// sign-in goes through enrolment. actorID is the admin's user id.
func (s *Service) ResetFactor(ctx context.Context, actorID, userID string) error {
	err := pgx.BeginFunc(ctx, s.p.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, sqlDeleteTOTP, userID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, sqlDeletePasskeys, userID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, sqlDeleteRecovery, userID); err != nil {
			return err
		}
		if err := s.p.Audit.AppendTx(ctx, tx, audit.Event{ActorType: audit.ActorUser, ActorID: actorID,
			Action: audit.ActionFactorReset, ObjectType: "user", ObjectID: userID,
			Outcome: audit.OutcomeSuccess}); err != nil {
			return err
		}
		_, err := s.revokeAllTx(ctx, tx, userID, ReasonFactorReset)
		return err
	})
	if err != nil {
		return fmt.Errorf("reset second factor: %w", err)
	}
	s.notifyRevoke(userID)
	return nil
}

// verifyCode checks a TOTP code or a recovery code for a user with a
// confirmed factor (TOTP or a passkey: recovery codes stand in for either)
// and consumes it. ErrInvalidCode when it does not match.
func (s *Service) verifyCode(ctx context.Context, tx pgx.Tx, userID, code string) error {
	secret, confirmed, lastUsed, err := s.lockTOTP(ctx, tx, userID)
	if err != nil && !errors.Is(err, ErrNotEnrolled) {
		return err
	}
	hasTOTP := err == nil && confirmed
	if !hasTOTP {
		enrolled, err := s.hasSecondFactorWith(ctx, tx, userID)
		if err != nil {
			return err
		}
		if !enrolled {
			return ErrNotEnrolled
		}
	}
	if _, perr := totp.ParseCode(code); perr == nil {
		if !hasTOTP {
			return ErrInvalidCode
		}
		step, err := s.matchTOTP(secret, code, lastUsed)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, sqlUseTOTPStep, userID, step); err != nil {
			return fmt.Errorf("record totp step: %w", err)
		}
		return nil
	}
	norm, ok := parseRecoveryCode(code)
	if !ok {
		return ErrInvalidCode
	}
	sum := sha256.Sum256([]byte(norm))
	tag, err := tx.Exec(ctx, sqlUseRecovery, userID, sum[:], s.now())
	if err != nil {
		return fmt.Errorf("use recovery code: %w", err)
	}
	if tag.RowsAffected() != 1 {
		return ErrInvalidCode
	}
	return nil
}

// lockTOTP reads and locks the user's TOTP row (so two uses of one code
// serialise and the second sees the first's step) and opens the secret.
func (s *Service) lockTOTP(ctx context.Context, tx pgx.Tx, userID string) (secret string, confirmed bool, lastUsed int64, err error) {
	var sealedSecret []byte
	var confirmedAt *time.Time
	err = tx.QueryRow(ctx, sqlLockTOTP, userID).Scan(&sealedSecret, &confirmedAt, &lastUsed)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, 0, ErrNotEnrolled
	}
	if err != nil {
		return "", false, 0, fmt.Errorf("read totp factor: %w", err)
	}
	plain, err := s.p.Keyring.Open(sealedSecret, TOTPSecretAAD(userID))
	if err != nil {
		return "", false, 0, fmt.Errorf("open totp secret: %w", err)
	}
	return string(plain), confirmedAt != nil, lastUsed, nil
}

// matchTOTP returns the step code matches, or ErrInvalidCode.
func (s *Service) matchTOTP(secret, code string, lastUsed int64) (int64, error) {
	digits, err := totp.ParseCode(code)
	if err != nil {
		return 0, ErrInvalidCode
	}
	step, ok, err := totp.Match(secret, digits, s.p.Now(), lastUsed)
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, ErrInvalidCode
	}
	return step, nil
}

func (s *Service) replaceRecoveryCodes(ctx context.Context, tx pgx.Tx, userID string) ([]string, error) {
	if _, err := tx.Exec(ctx, sqlDeleteRecovery, userID); err != nil {
		return nil, fmt.Errorf("delete recovery codes: %w", err)
	}
	now := s.now()
	codes := make([]string, RecoveryCodeCount)
	for i := range codes {
		b := make([]byte, recoveryBytes)
		rand.Read(b)
		norm := strings.ToLower(recoveryEncoding.EncodeToString(b))
		sum := sha256.Sum256([]byte(norm))
		if _, err := tx.Exec(ctx, sqlInsertRecovery, userID, sum[:], now); err != nil {
			return nil, fmt.Errorf("store recovery code: %w", err)
		}
		var g []string
		for j := 0; j < recoveryChars; j += recoveryGroup {
			g = append(g, norm[j:j+recoveryGroup])
		}
		codes[i] = strings.Join(g, "-")
	}
	return codes, nil
}

// parseRecoveryCode accepts the code as shown, in any case, with or
// without its dashes and spaces, and returns its normalised form.
func parseRecoveryCode(s string) (string, bool) {
	if len(s) > 2*recoveryChars {
		return "", false
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '-' || c == ' ':
		case c >= 'a' && c <= 'z', c >= '2' && c <= '7':
			b.WriteByte(c)
		case c >= 'A' && c <= 'Z':
			b.WriteByte(c + ('a' - 'A'))
		default:
			return "", false
		}
	}
	if b.Len() != recoveryChars {
		return "", false
	}
	return b.String(), true
}
