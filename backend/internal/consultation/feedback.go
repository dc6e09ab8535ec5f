package consultation

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/hcw-home/hcw/backend/internal/audit"
	"github.com/hcw-home/hcw/backend/internal/authz"
	"github.com/hcw-home/hcw/backend/internal/throttle"
)

// Patient feedback
//
// When a consultation's queue asks for feedback (queues.ask_feedback),
// each participant may rate it once after it closes: good, ok or bad,
// with an optional comment. The participant's session ends at the close,
// so the feedback is authorised by a feedback token instead: every
// participant read (GET /participant/me, /participant/consultations/{id})
// of a consultation that asks for feedback answers a fresh token (256
// random bits, only its SHA-256 kept, one per participant: a new read
// replaces the previous token). The participant app keeps the last one
// and posts the feedback with it once the consultation has closed. The
// token works once, and until FeedbackTTL after the close.
//
// The rating is counted into the consultation's anonymous statistics row;
// the rating and the sealed comment are kept with the consultation for
// its staff to read in its history, and go with it.

// Audit actions of feedback.
const (
	ActionFeedbackGiven   = "consultation.feedback_given"
	ActionFeedbackRefused = "consultation.feedback_refused"
)

// Feedback limits.
const (
	// DefaultFeedbackTTL is how long after the close feedback is taken.
	DefaultFeedbackTTL = 24 * time.Hour
	// MaxFeedbackCommentRunes bounds a comment.
	MaxFeedbackCommentRunes = 2000
)

// Rating is a participant's overall rating of a consultation.
type Rating string

// Ratings.
const (
	RatingGood Rating = "good"
	RatingOK   Rating = "ok"
	RatingBad  Rating = "bad"
)

// Feedback errors.
var (
	// ErrFeedbackInvalid means the feedback token is malformed, unknown,
	// used, or for another consultation.
	ErrFeedbackInvalid = errors.New("invalid feedback token")
	// ErrFeedbackExpired means the consultation closed more than
	// FeedbackTTL ago.
	ErrFeedbackExpired = errors.New("feedback period over")
	// ErrFeedbackNotAsked means the consultation's queue does not ask for
	// feedback.
	ErrFeedbackNotAsked = errors.New("feedback not asked for")
	// ErrFeedbackGiven means this participant already gave feedback.
	ErrFeedbackGiven = errors.New("feedback already given")
)

// Feedback is one participant's feedback as staff read it.
type Feedback struct {
	ParticipantID string
	Role          authz.Role
	Rating        Rating
	Comment       string
	CreatedAt     time.Time
}

const (
	// A consultation asks for feedback when its queue does; one with a
	// named doctor and no queue never does (no switch to turn it on).
	sqlAsksFeedback = `
SELECT coalesce((SELECT q.ask_feedback FROM consultations c JOIN queues q ON q.id = c.queue_id WHERE c.id = $1), false)`
	sqlFeedbackTokenUpsert = `
INSERT INTO feedback_tokens (participant_id, consultation_id, token_hash, created_at)
SELECT $1, $2, $3, $4
WHERE NOT EXISTS (SELECT 1 FROM consultation_feedback WHERE participant_id = $1)
ON CONFLICT (participant_id) DO UPDATE SET token_hash = EXCLUDED.token_hash, created_at = EXCLUDED.created_at`
	sqlFeedbackTokenLock = `
SELECT ft.participant_id::text, ft.consultation_id::text, c.status, c.closed_at, c.stats_id::text,
    coalesce(q.ask_feedback, false)
FROM feedback_tokens ft JOIN consultations c ON c.id = ft.consultation_id LEFT JOIN queues q ON q.id = c.queue_id
WHERE ft.token_hash = $1
FOR UPDATE OF ft`
	sqlFeedbackTokenDelete = `DELETE FROM feedback_tokens WHERE participant_id = $1`
	sqlFeedbackInsert      = `
INSERT INTO consultation_feedback (id, consultation_id, participant_id, rating, comment_sealed, created_at)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (participant_id) DO NOTHING`
	sqlStatsRating = `
UPDATE consultation_stats SET
    feedback_good = feedback_good + (CASE WHEN $2 = 'good' THEN 1 ELSE 0 END),
    feedback_ok = feedback_ok + (CASE WHEN $2 = 'ok' THEN 1 ELSE 0 END),
    feedback_bad = feedback_bad + (CASE WHEN $2 = 'bad' THEN 1 ELSE 0 END)
WHERE id = $1`
	sqlFeedbackOf = `
SELECT f.id::text AS id, f.consultation_id::text AS consultation_id, f.participant_id::text AS participant_id,
    p.role, f.rating, f.comment_sealed, f.created_at
FROM consultation_feedback f JOIN participants p ON p.id = f.participant_id
WHERE f.consultation_id = ANY($1::uuid[])
ORDER BY f.created_at, f.id`
	sqlFeedbackTokensPurge = `
DELETE FROM feedback_tokens ft USING consultations c
WHERE c.id = ft.consultation_id AND c.status = 'closed' AND c.closed_at < $1`
)

// issueFeedbackToken gives participant participantID a fresh feedback
// token when their consultation asks for feedback and they have not given
// it; it returns "" otherwise.
func (s *Service) issueFeedbackToken(ctx context.Context, participantID, consultationID string) (string, error) {
	var asks bool
	if err := s.p.Pool.QueryRow(ctx, sqlAsksFeedback, consultationID).Scan(&asks); err != nil {
		return "", mapErr(err)
	}
	if !asks {
		return "", nil
	}
	tok := newToken()
	tag, err := s.p.Pool.Exec(ctx, sqlFeedbackTokenUpsert, participantID, consultationID, tok.Hash(), s.now())
	if err != nil {
		return "", mapErr(err)
	}
	if tag.RowsAffected() == 0 {
		return "", nil // already given
	}
	return tok.String(), nil
}

// NewFeedback is a participant's feedback as posted.
type NewFeedback struct {
	// Token is the feedback token of the participant's last read.
	Token   string
	Rating  Rating
	Comment string
}

// GiveFeedback records a participant's feedback on closed consultation
// consultationID, authorised by the feedback token. Unknown tokens count
// against the client address like unknown invite tokens, and the same
// throttle applies.
func (s *Service) GiveFeedback(ctx context.Context, consultationID string, in NewFeedback, client netip.Addr) error {
	switch in.Rating {
	case RatingGood, RatingOK, RatingBad:
	default:
		return invalid("rating", "must be good, ok or bad")
	}
	comment := strings.TrimSpace(in.Comment)
	if !utf8.ValidString(comment) || utf8.RuneCountInString(comment) > MaxFeedbackCommentRunes ||
		strings.IndexFunc(comment, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\r' && r != '\t' }) >= 0 {
		return invalid("comment", fmt.Sprintf("must be at most %d printable characters", MaxFeedbackCommentRunes))
	}
	key := clientKey(client)
	if err := s.checkThrottle(ctx, key); err != nil {
		return err
	}
	tok, err := ParseInviteToken(in.Token)
	if err != nil || !isUUID(consultationID) {
		return s.feedbackFailed(ctx, key, client)
	}
	var refusal error
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		var participantID, cid, status string
		var closedAt *time.Time
		var statsID *string
		var asks bool
		if err := tx.QueryRow(ctx, sqlFeedbackTokenLock, tok.Hash()).Scan(&participantID, &cid, &status, &closedAt, &statsID, &asks); err != nil {
			return err
		}
		if !strings.EqualFold(cid, consultationID) {
			return ErrNotFound
		}
		participant := Actor{Type: audit.ActorParticipant, ID: participantID, ClientIP: client}
		refuse := func(e error) error {
			refusal = e
			return s.record(ctx, tx, participant, ActionFeedbackRefused, "consultation", cid, cid, audit.OutcomeDenied)
		}
		now := s.now()
		switch {
		case !asks:
			return refuse(ErrFeedbackNotAsked)
		case Status(status) != StatusClosed || closedAt == nil:
			return refuse(ErrWrongState)
		case !now.Before(closedAt.Add(s.p.FeedbackTTL)):
			if _, err := tx.Exec(ctx, sqlFeedbackTokenDelete, participantID); err != nil {
				return err
			}
			return refuse(ErrFeedbackExpired)
		}
		id := newUUID()
		tag, err := tx.Exec(ctx, sqlFeedbackInsert, id, cid, participantID, string(in.Rating),
			s.seal("consultation_feedback", "comment", id, []byte(comment)), now)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, sqlFeedbackTokenDelete, participantID); err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return refuse(ErrFeedbackGiven)
		}
		if statsID != nil {
			if _, err := tx.Exec(ctx, sqlStatsRating, *statsID, string(in.Rating)); err != nil {
				return err
			}
		}
		return s.record(ctx, tx, participant, ActionFeedbackGiven, "consultation", cid, cid, audit.OutcomeSuccess)
	})
	switch {
	case errors.Is(err, ErrNotFound):
		return s.feedbackFailed(ctx, key, client)
	case err != nil:
		return fmt.Errorf("give feedback: %w", err)
	}
	return refusal
}

// feedbackFailed counts a failure of the address, audits it and returns
// ErrFeedbackInvalid.
func (s *Service) feedbackFailed(ctx context.Context, key string, client netip.Addr) error {
	err := pgx.BeginFunc(ctx, s.p.Pool, func(tx pgx.Tx) error {
		if err := s.throttle.Fail(ctx, tx, s.now(), throttle.Key{Name: key, Threshold: s.p.RedeemThreshold}); err != nil {
			return err
		}
		return s.p.Audit.AppendTx(ctx, tx, audit.Event{ActorType: audit.ActorSystem, ClientIP: client,
			Action: ActionFeedbackRefused, ObjectType: "consultation", Outcome: audit.OutcomeFailure})
	})
	if err != nil {
		return fmt.Errorf("record failed feedback: %w", err)
	}
	return ErrFeedbackInvalid
}

type feedbackRow struct {
	ID             string    `db:"id"`
	ConsultationID string    `db:"consultation_id"`
	ParticipantID  string    `db:"participant_id"`
	Role           string    `db:"role"`
	Rating         string    `db:"rating"`
	CommentSealed  []byte    `db:"comment_sealed"`
	CreatedAt      time.Time `db:"created_at"`
}

// feedbackOf returns the feedback of the given consultations, by
// consultation id, comments opened.
func (s *Service) feedbackOf(ctx context.Context, ids []string) (map[string][]Feedback, error) {
	out := map[string][]Feedback{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, _ := s.p.Pool.Query(ctx, sqlFeedbackOf, ids)
	list, err := pgx.CollectRows(rows, pgx.RowToStructByName[feedbackRow])
	if err != nil {
		return nil, mapErr(err)
	}
	for _, r := range list {
		comment, err := s.open("consultation_feedback", "comment", r.ID, r.CommentSealed)
		if err != nil {
			return nil, err
		}
		out[r.ConsultationID] = append(out[r.ConsultationID], Feedback{ParticipantID: r.ParticipantID,
			Role: authz.Role(r.Role), Rating: Rating(r.Rating), Comment: string(comment), CreatedAt: r.CreatedAt})
	}
	return out, nil
}

// withFeedback fills the Feedback of closed consultations.
func (s *Service) withFeedback(ctx context.Context, list []Consultation) error {
	var ids []string
	for _, c := range list {
		if c.Status == StatusClosed {
			ids = append(ids, c.ID)
		}
	}
	fb, err := s.feedbackOf(ctx, ids)
	if err != nil {
		return err
	}
	for i := range list {
		list[i].Feedback = fb[list[i].ID]
	}
	return nil
}

// PurgeFeedbackTokens deletes the feedback tokens of consultations closed
// more than FeedbackTTL ago (a housekeeping chore).
func (s *Service) PurgeFeedbackTokens(ctx context.Context) (int64, error) {
	tag, err := s.p.Pool.Exec(ctx, sqlFeedbackTokensPurge, s.now().Add(-s.p.FeedbackTTL))
	if err != nil {
		return 0, fmt.Errorf("purge feedback tokens: %w", err)
	}
	return tag.RowsAffected(), nil
}
