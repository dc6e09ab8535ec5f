package signin

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/hcw-home/hcw/backend/internal/audit"
)

// ActionPasswordVerified records a first step passed by a user who still
// owes the second factor; sign_in.success follows when they pay it.
const ActionPasswordVerified = "sign_in.password_verified"

// SignIn is the password step. It checks the throttle first (a throttled
// attempt does not verify the password), then the password through
// Accounts. It returns a new session: LevelFull when the user needs no
// second factor, else LevelPassword with Next telling whether to verify or
// to enrol. Errors: ErrThrottled (a *ThrottledError), ErrInvalidCredentials,
// ErrAccountNotActive.
func (s *Service) SignIn(ctx context.Context, email, password string, c Client) (Result, error) {
	keys := s.signInKeys(email, c)
	if err := s.checkThrottle(ctx, keys); err != nil {
		if errors.Is(err, ErrThrottled) {
			// The e-mail is not recorded, not even for a known account: the
			// trail names users by id, and here nobody is authenticated.
			s.auditBestEffort(ctx, audit.Event{ActorType: audit.ActorSystem, Action: audit.ActionSignInFailure,
				ObjectType: "sign_in", ClientIP: c.IP, Outcome: audit.OutcomeDenied})
		}
		return Result{}, err
	}
	u, err := s.p.Accounts.Authenticate(ctx, email, password)
	if errors.Is(err, ErrInvalidCredentials) {
		if err := s.recordFailure(ctx, keys); err != nil {
			return Result{}, err
		}
		if err := s.p.Audit.Append(ctx, audit.Event{ActorType: audit.ActorSystem, Action: audit.ActionSignInFailure,
			ObjectType: "sign_in", ClientIP: c.IP, Outcome: audit.OutcomeFailure}); err != nil {
			return Result{}, fmt.Errorf("sign in: %w", err)
		}
		return Result{}, ErrInvalidCredentials
	}
	if err != nil {
		return Result{}, fmt.Errorf("sign in: authenticate: %w", err)
	}
	if err := s.resetThrottle(ctx, accountKey(email)); err != nil {
		return Result{}, err
	}
	if u.Status != StatusActive {
		if err := s.p.Audit.Append(ctx, audit.Event{ActorType: audit.ActorUser, ActorID: u.ID,
			Action: audit.ActionSignInFailure, ObjectType: "user", ObjectID: u.ID,
			ClientIP: c.IP, Outcome: audit.OutcomeDenied}); err != nil {
			return Result{}, fmt.Errorf("sign in: %w", err)
		}
		return Result{}, ErrAccountNotActive
	}
	enrolled, err := s.HasSecondFactor(ctx, u.ID)
	if err != nil {
		return Result{}, err
	}
	level, next, action := LevelFull, NextNone, audit.ActionSignInSuccess
	expires := s.now().Add(s.p.AbsoluteLifetime)
	if needsSecondFactor(u.Role, enrolled) {
		level, next, action = LevelPassword, NextVerify, ActionPasswordVerified
		if !enrolled {
			next = NextEnrol
		}
		expires = s.now().Add(s.p.PendingLifetime)
	}
	var res Result
	err = pgx.BeginFunc(ctx, s.p.Pool, func(tx pgx.Tx) error {
		var err error
		if res, err = s.insertSession(ctx, tx, u, level, expires, c); err != nil {
			return err
		}
		return s.p.Audit.AppendTx(ctx, tx, audit.Event{ActorType: audit.ActorUser, ActorID: u.ID,
			Action: action, ObjectType: "session", ObjectID: res.Session.ID,
			ClientIP: c.IP, Outcome: audit.OutcomeSuccess})
	})
	if err != nil {
		return Result{}, fmt.Errorf("sign in: %w", err)
	}
	res.Next = next
	return res, nil
}

// CompleteSecondFactor is the second step: a TOTP code or an unused
// recovery code on a password-level session. On success the session is
// replaced (new token, old revoked) by a full one. Errors: ErrInvalidSession,
// ErrWrongLevel (the session is already full), ErrThrottled,
// ErrNotEnrolled, ErrInvalidCode.
func (s *Service) CompleteSecondFactor(ctx context.Context, tok, code string, c Client) (Result, error) {
	sess, err := s.Validate(ctx, tok)
	if err != nil {
		return Result{}, err
	}
	if sess.Level != LevelPassword {
		return Result{}, ErrWrongLevel
	}
	hash, _ := hashToken(tok)
	keys := s.factorKeys(sess.User.ID, c)
	if err := s.checkThrottle(ctx, keys); err != nil {
		return Result{}, err
	}
	var res Result
	err = pgx.BeginFunc(ctx, s.p.Pool, func(tx pgx.Tx) error {
		if err := s.verifyCode(ctx, tx, sess.User.ID, code); err != nil {
			return err
		}
		var err error
		res, err = s.rotateTx(ctx, tx, hash, sess.User, LevelFull, s.now().Add(s.p.AbsoluteLifetime), c)
		if err != nil {
			return err
		}
		return s.p.Audit.AppendTx(ctx, tx, audit.Event{ActorType: audit.ActorUser, ActorID: sess.User.ID,
			Action: audit.ActionSignInSuccess, ObjectType: "session", ObjectID: res.Session.ID,
			ClientIP: c.IP, Outcome: audit.OutcomeSuccess})
	})
	if errors.Is(err, ErrInvalidCode) {
		return Result{}, s.codeFailure(ctx, sess.User.ID, keys, c)
	}
	if err != nil {
		return Result{}, wrapSentinel("complete second factor", err)
	}
	if err := s.resetThrottle(ctx, factorKey(sess.User.ID)); err != nil {
		return Result{}, err
	}
	return res, nil
}

// codeFailure records a wrong second-factor code and returns ErrInvalidCode.
func (s *Service) codeFailure(ctx context.Context, userID string, keys []throttleKey, c Client) error {
	if err := s.recordFailure(ctx, keys); err != nil {
		return err
	}
	if err := s.p.Audit.Append(ctx, audit.Event{ActorType: audit.ActorUser, ActorID: userID,
		Action: audit.ActionSignInFailure, ObjectType: "factor", ObjectID: userID,
		ClientIP: c.IP, Outcome: audit.OutcomeFailure}); err != nil {
		return fmt.Errorf("record code failure: %w", err)
	}
	return ErrInvalidCode
}

// auditBestEffort appends an event whose loss must not turn a refusal into
// an internal error; the refusal stands either way.
func (s *Service) auditBestEffort(ctx context.Context, e audit.Event) {
	_ = s.p.Audit.Append(ctx, e)
}

// wrapSentinel leaves the package's sentinel errors bare (the caller
// switches on them) and wraps anything else with the operation.
func wrapSentinel(op string, err error) error {
	for _, sentinel := range []error{ErrInvalidSession, ErrInvalidCode, ErrNotEnrolled,
		ErrAlreadyEnrolled, ErrNoPendingEnrolment, ErrWrongLevel, ErrPasskeyHost, ErrNoPendingCeremony,
		ErrMalformedCredential, ErrInvalidPasskey, ErrPasskeyNotFound, ErrPasskeyExists, ErrPasskeyLimit,
		ErrLastFactor, ErrInvalidPasskeyName} {
		if errors.Is(err, sentinel) {
			return err
		}
	}
	return wrap(op, err)
}
