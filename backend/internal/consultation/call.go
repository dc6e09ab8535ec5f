package consultation

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jackc/pgx/v5"

	"github.com/hcw-home/hcw/backend/internal/audit"
	"github.com/hcw-home/hcw/backend/internal/authz"
	"github.com/hcw-home/hcw/backend/internal/events"
	"github.com/hcw-home/hcw/backend/internal/medianode"
	"github.com/hcw-home/hcw/contract/grant"
	"github.com/hcw-home/hcw/contract/turncred"
)

// Calls
//
// A consultation's doctor starts a call (audio or video) on an active
// consultation; it rings for its participants until one accepts (active)
// or it ends: hung up by the doctor, declined by the patient, unanswered
// after RingTimeout, longer than MaxDuration, or its consultation closed
// or transferred. At most one call per consultation is not ended (a
// partial unique index). Joining asks for a place: the first join places
// the call on the least-loaded healthy media node under the call's row
// lock, so concurrent first joins agree; later joins go to the same node
// while it lives, and to another when it died. A join answers a media
// grant (contract/grant, signed with the Ed25519 key) for that room, node
// and person, and TURN credentials (contract/turncred) for the same
// identity: "u-<user id>" for the doctor, "p-<participant id>" for
// participants.
//
// Lock order: a consultation's row, then its call's row, then the audit
// chain (AppendTx): every transaction here takes them in that order, so
// closing, revoking, joining and the timeout sweep never deadlock.
//
// The members of a call are the consultation's participants and its
// doctor; everyone else gets ErrNotFound, audited as denied. Ending a call,
// revoking a participant and disabling a staff account queue control
// commands for the node (package medianode) in the same transaction, so a
// removal is never lost between the commit and the node.

// Audit actions of calls.
const (
	ActionCallStarted            = "call.started"
	ActionCallAccepted           = "call.accepted"
	ActionCallDeclined           = "call.declined"
	ActionCallJoined             = "call.joined"
	ActionCallEnded              = "call.ended"
	ActionCallRead               = "call.read"
	ActionCallParticipantRemoved = "call.participant_removed"
)

// CallKind is audio or video.
type CallKind string

// Call kinds.
const (
	CallAudio CallKind = "audio"
	CallVideo CallKind = "video"
)

// CallState is where a call is in its life.
type CallState string

// Call states.
const (
	CallRinging CallState = "ringing"
	CallActive  CallState = "active"
	CallEnded   CallState = "ended"
)

// Reasons a call ends.
const (
	CallHungUp                  = "hung_up"
	CallDeclined                = "declined"
	CallNoAnswer                = "no_answer"
	CallMaxDuration             = "max_duration"
	CallConsultationClosed      = "consultation_closed"
	CallConsultationTransferred = "consultation_transferred"
)

// Defaults of MediaParams.
const (
	DefaultTURNCredentialTTL = 12 * time.Hour
	DefaultCallRingTimeout   = 5 * time.Minute
	DefaultCallMaxDuration   = 4 * time.Hour
	// DefaultCallSweep is how often RunCallTimeouts looks for calls to end.
	DefaultCallSweep = 5 * time.Second
	// maxGrantName bounds a grant's display name (grant.Claims' limit).
	maxGrantName = 200
	// callSweepBatch bounds the calls one sweep ends.
	callSweepBatch = 100
)

// MediaParams configures calls.
type MediaParams struct {
	// Nodes is the media node pool; without it (or GrantKey) joins and
	// starts are ErrNoMediaNode.
	Nodes *medianode.Service
	// GrantKey signs media grants; GrantTTL is their life to join
	// (grant.DefaultTTL when 0).
	GrantKey ed25519.PrivateKey
	GrantTTL time.Duration
	// TURNSecret mints TURN credentials valid TURNTTL for TURNURLs.
	TURNSecret []byte
	TURNURLs   []string
	TURNTTL    time.Duration
	// RingTimeout ends a call nobody accepted; MaxDuration any call.
	RingTimeout, MaxDuration time.Duration
}

func (m *MediaParams) setDefaults() {
	if m.GrantTTL <= 0 {
		m.GrantTTL = grant.DefaultTTL
	}
	if m.TURNTTL <= 0 {
		m.TURNTTL = DefaultTURNCredentialTTL
	}
	if m.RingTimeout <= 0 {
		m.RingTimeout = DefaultCallRingTimeout
	}
	if m.MaxDuration <= 0 {
		m.MaxDuration = DefaultCallMaxDuration
	}
}

func (m MediaParams) configured() bool {
	return m.Nodes != nil && len(m.GrantKey) == ed25519.PrivateKeySize
}

// Call is a consultation's call.
type Call struct {
	ID, ConsultationID string
	// StartedBy is the doctor's user id.
	StartedBy string
	Kind      CallKind
	State     CallState
	// NodeID is the media node the call is placed on; empty until the
	// first join.
	NodeID     string
	StartedAt  time.Time
	AnsweredAt *time.Time
	EndedAt    *time.Time
	EndReason  string
	// Participants are those asked in who answered, declined or joined.
	Participants []CallParticipant
}

// CallParticipant is one person's part in a call.
type CallParticipant struct {
	// Identity is the media identity: "u-<user id>" or "p-<participant id>".
	Identity   string
	Role       authz.Role
	AcceptedAt *time.Time
	DeclinedAt *time.Time
	JoinedAt   *time.Time
	LeftAt     *time.Time
}

// ICEServer is one entry of a browser's RTCIceServer list.
type ICEServer struct {
	URLs       []string
	Username   string
	Credential string
}

// CallJoin is what a member needs to connect to the call's media node.
type CallJoin struct {
	Call Call
	// Room is the consultation id; Node the media node's id.
	Room, Node string
	// SignalURL is the node's public signalling WebSocket URL.
	SignalURL string
	// Grant is the media grant (a JWT), offered as a WebSocket subprotocol.
	Grant          string
	GrantExpiresAt time.Time
	// Sources is what the grant lets the member publish (grant.Source*).
	Sources    []string
	ICEServers []ICEServer
}

type callRow struct {
	ID             string     `db:"id"`
	ConsultationID string     `db:"consultation_id"`
	StartedBy      string     `db:"started_by"`
	Kind           string     `db:"kind"`
	State          string     `db:"state"`
	NodeID         *string    `db:"node_id"`
	StartedAt      time.Time  `db:"started_at"`
	AnsweredAt     *time.Time `db:"answered_at"`
	EndedAt        *time.Time `db:"ended_at"`
	EndReason      *string    `db:"end_reason"`
}

type callParticipantRow struct {
	Identity   string     `db:"identity"`
	Role       string     `db:"role"`
	AcceptedAt *time.Time `db:"accepted_at"`
	DeclinedAt *time.Time `db:"declined_at"`
	JoinedAt   *time.Time `db:"joined_at"`
	LeftAt     *time.Time `db:"left_at"`
}

const callColumns = `c.id::text AS id, c.consultation_id::text AS consultation_id, c.started_by::text AS started_by,
    c.kind, c.state, c.node_id, c.started_at, c.answered_at, c.ended_at, c.end_reason`

const (
	// A call's members hold their consultation's row in key-share mode:
	// closing (FOR UPDATE) waits for them and they for it, in one order
	// (consultation, then call).
	sqlConsultationRowKeyShare = consultationSelect + ` WHERE c.id = $2 FOR KEY SHARE OF c`

	sqlOpenCall       = `SELECT ` + callColumns + ` FROM calls c WHERE c.consultation_id = $1 AND c.state <> 'ended'`
	sqlOpenCallLocked = sqlOpenCall + ` FOR UPDATE`
	sqlCallByID       = `SELECT ` + callColumns + ` FROM calls c WHERE c.id = $1`
	sqlInsertCall     = `
INSERT INTO calls (id, consultation_id, started_by, kind, state, started_at) VALUES ($1, $2, $3, $4, 'ringing', $5)`
	sqlCallAnswered = `UPDATE calls SET state = 'active', answered_at = $2 WHERE id = $1 AND state = 'ringing'`
	sqlCallPlaced   = `UPDATE calls SET node_id = $2 WHERE id = $1`
	sqlCallEnd      = `UPDATE calls SET state = 'ended', ended_at = $2, end_reason = $3 WHERE id = $1 AND state <> 'ended'`
	sqlCallMembers  = `
SELECT identity, role, accepted_at, declined_at, joined_at, left_at FROM call_participants
WHERE call_id = $1 ORDER BY identity`
	sqlCallAccept = `
INSERT INTO call_participants (call_id, identity, role, accepted_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (call_id, identity) DO UPDATE SET accepted_at = excluded.accepted_at, declined_at = NULL`
	sqlCallDecline = `
INSERT INTO call_participants (call_id, identity, role, declined_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (call_id, identity) DO UPDATE SET declined_at = excluded.declined_at, accepted_at = NULL`
	sqlCallJoin = `
INSERT INTO call_participants (call_id, identity, role, accepted_at, joined_at) VALUES ($1, $2, $3, $4, $4)
ON CONFLICT (call_id, identity) DO UPDATE SET joined_at = excluded.joined_at,
    accepted_at = coalesce(call_participants.accepted_at, excluded.accepted_at), declined_at = NULL, left_at = NULL`
	sqlCallLeft = `
UPDATE call_participants SET left_at = $3 WHERE call_id = $1 AND identity = $2 AND joined_at IS NOT NULL AND left_at IS NULL`
	// The open calls a person is in (joined, not removed), with their node.
	sqlCallsJoinedBy = `
SELECT ` + callColumns + ` FROM call_participants cp JOIN calls c ON c.id = cp.call_id
WHERE cp.identity = $1 AND cp.joined_at IS NOT NULL AND cp.left_at IS NULL AND c.state <> 'ended'
ORDER BY c.id
FOR UPDATE OF c`
	// Calls to end now: ringing since $1 or earlier, or started at $2 or
	// earlier. SKIP LOCKED: replicas sweeping at once share the work, and
	// a call a member holds is ended at the next sweep.
	sqlOverdueCalls = `
SELECT ` + callColumns + `, co.doctor_id::text AS doctor_id
FROM calls c JOIN consultations co ON co.id = c.consultation_id
WHERE c.state <> 'ended' AND ((c.state = 'ringing' AND c.started_at <= $1) OR c.started_at <= $2)
ORDER BY c.started_at
LIMIT $3
FOR UPDATE OF c SKIP LOCKED`
	sqlParticipantNames = `SELECT first_name_sealed, last_name_sealed FROM participants WHERE id = $1`
	sqlUserNames        = `SELECT first_name_sealed, last_name_sealed FROM users WHERE id = $1`
)

// callMember is the object-level rule of calls: a participant of the
// consultation, or its doctor. It returns the member's media identity and
// role.
func callMember(p authz.Principal, r consultationRow) (identity string, role authz.Role, ok bool) {
	switch {
	case p.Kind == "participant" && authz.InConsultation(p, r.ID):
		return participantIdentity(p.ID), p.Role, true
	case p.Kind == "user" && p.Role == authz.RoleDoctor && r.DoctorID != nil && *r.DoctorID == p.UserID:
		return userIdentity(p.UserID), authz.RoleDoctor, true
	}
	return "", "", false
}

func userIdentity(userID string) string               { return "u-" + userID }
func participantIdentity(participantID string) string { return "p-" + participantID }

// callTopics are where a call's events go: the consultation's
// participants and its doctor (not its queue: a call is nobody else's).
func callTopics(consultationID string, doctorID *string) []string {
	t := []string{events.Topic(events.KindConsultation, consultationID)}
	if doctorID != nil {
		t = append(t, events.Topic(events.KindUser, *doctorID))
	}
	return t
}

func (r callRow) call(members []callParticipantRow) Call {
	c := Call{ID: r.ID, ConsultationID: r.ConsultationID, StartedBy: r.StartedBy, Kind: CallKind(r.Kind),
		State: CallState(r.State), NodeID: deref(r.NodeID), StartedAt: r.StartedAt, AnsweredAt: r.AnsweredAt,
		EndedAt: r.EndedAt, EndReason: deref(r.EndReason), Participants: make([]CallParticipant, 0, len(members))}
	for _, m := range members {
		c.Participants = append(c.Participants, CallParticipant{Identity: m.Identity, Role: authz.Role(m.Role),
			AcceptedAt: m.AcceptedAt, DeclinedAt: m.DeclinedAt, JoinedAt: m.JoinedAt, LeftAt: m.LeftAt})
	}
	return c
}

// callMemberOf is the caller as a member of the call of a consultation.
type callMemberOf struct {
	identity string
	role     authz.Role
	r        consultationRow
}

// errNotCallMember: no such consultation, or p is not a member of its
// calls. Answered as ErrNotFound, audited as denied.
var errNotCallMember = errors.New("not a member of this consultation's calls")

// inCall runs fn in a transaction that holds consultation id's row (key
// share) once p is found a member; otherwise it records action as denied
// and returns ErrNotFound. The media worker is poked after the commit, for
// the commands fn may have queued.
func (s *Service) inCall(ctx context.Context, p authz.Principal, a Actor, action, id string, fn func(tx pgx.Tx, m callMemberOf) error) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		r, err := s.row(ctx, tx, sqlConsultationRowKeyShare, id)
		if errors.Is(mapErr(err), ErrNotFound) {
			return errNotCallMember
		}
		if err != nil {
			return err
		}
		identity, role, ok := callMember(p, r)
		if !ok {
			return errNotCallMember
		}
		return fn(tx, callMemberOf{identity: identity, role: role, r: r})
	})
	if errors.Is(err, errNotCallMember) {
		if aerr := s.p.Audit.Append(ctx, audit.Event{ActorType: a.Type, ActorID: a.ID, ClientIP: a.ClientIP,
			Action: action, ObjectType: "consultation", ObjectID: auditID(id), Outcome: audit.OutcomeDenied}); aerr != nil {
			return aerr
		}
		return ErrNotFound
	}
	s.p.Media.Nodes.Poke()
	return err
}

// openCall returns the consultation's open call, locked, or
// ErrNoActiveCall.
func (s *Service) openCall(ctx context.Context, tx pgx.Tx, consultationID string) (callRow, error) {
	rows, _ := tx.Query(ctx, sqlOpenCallLocked, consultationID)
	c, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[callRow])
	if errors.Is(err, pgx.ErrNoRows) {
		return callRow{}, ErrNoActiveCall
	}
	return c, err
}

func (s *Service) loadCall(ctx context.Context, tx pgx.Tx, id string) (Call, error) {
	rows, _ := tx.Query(ctx, sqlCallByID, id)
	c, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[callRow])
	if err != nil {
		return Call{}, err
	}
	rows, _ = tx.Query(ctx, sqlCallMembers, id)
	members, err := pgx.CollectRows(rows, pgx.RowToStructByName[callParticipantRow])
	if err != nil {
		return Call{}, err
	}
	return c.call(members), nil
}

func (s *Service) recordCall(ctx context.Context, tx pgx.Tx, a Actor, action string, c callRow) error {
	return s.record(ctx, tx, a, action, "call", c.ID, c.ConsultationID, audit.OutcomeSuccess)
}

// StartCall starts a call of kind on an active consultation, as its
// doctor: it rings for the participants (call.ringing). A consultation
// with an open call is ErrCallInProgress; one not active
// ErrConsultationNotActive; no healthy media node is ErrNoMediaNode.
func (s *Service) StartCall(ctx context.Context, p authz.Principal, a Actor, consultationID string, kind CallKind) (Call, error) {
	if kind != CallAudio && kind != CallVideo {
		return Call{}, invalid("kind", "must be audio or video")
	}
	var out Call
	err := s.inCall(ctx, p, a, ActionCallStarted, consultationID, func(tx pgx.Tx, m callMemberOf) error {
		if m.role != authz.RoleDoctor {
			return errNotCallMember
		}
		if Status(m.r.Status) != StatusActive {
			return ErrConsultationNotActive
		}
		if !s.p.Media.configured() {
			return ErrNoMediaNode
		}
		// Ring only when the call can take place.
		if _, err := s.p.Media.Nodes.Place(ctx, tx, ""); err != nil {
			return err
		}
		now := s.now()
		c := callRow{ID: newUUID(), ConsultationID: m.r.ID, StartedBy: p.UserID, Kind: string(kind), State: string(CallRinging), StartedAt: now}
		if _, err := tx.Exec(ctx, sqlInsertCall, c.ID, c.ConsultationID, c.StartedBy, c.Kind, now); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, sqlCallAccept, c.ID, m.identity, string(m.role), now); err != nil {
			return err
		}
		if err := events.PublishData(ctx, tx, events.TypeCallRinging, map[string]any{
			"consultation_id": c.ConsultationID, "call_id": c.ID, "kind": c.Kind, "started_by": c.StartedBy,
			"started_at": now}, callTopics(m.r.ID, m.r.DoctorID)...); err != nil {
			return err
		}
		if err := s.recordCall(ctx, tx, a, ActionCallStarted, c); err != nil {
			return err
		}
		var err error
		out, err = s.loadCall(ctx, tx, c.ID)
		return err
	})
	return out, err
}

// CurrentCall returns the consultation's open call, or nil when there is
// none, for a member.
func (s *Service) CurrentCall(ctx context.Context, p authz.Principal, a Actor, consultationID string) (*Call, error) {
	var out *Call
	err := s.inCall(ctx, p, a, ActionCallRead, consultationID, func(tx pgx.Tx, m callMemberOf) error {
		rows, _ := tx.Query(ctx, sqlOpenCall, m.r.ID)
		c, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[callRow])
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		call, err := s.loadCall(ctx, tx, c.ID)
		out = &call
		return err
	})
	return out, err
}

// AcceptCall records that a participant answers the ringing (or joins the
// active) call; a ringing call becomes active (call.accepted).
func (s *Service) AcceptCall(ctx context.Context, p authz.Principal, a Actor, consultationID string) (Call, error) {
	var out Call
	err := s.inCall(ctx, p, a, ActionCallAccepted, consultationID, func(tx pgx.Tx, m callMemberOf) error {
		if m.role == authz.RoleDoctor {
			// The doctor started it: there is nothing to accept.
			return ErrWrongState
		}
		if Status(m.r.Status) != StatusActive {
			return ErrConsultationNotActive
		}
		c, err := s.openCall(ctx, tx, m.r.ID)
		if err != nil {
			return err
		}
		now := s.now()
		if _, err := tx.Exec(ctx, sqlCallAccept, c.ID, m.identity, string(m.role), now); err != nil {
			return err
		}
		if err := s.answer(ctx, tx, c, m, now); err != nil {
			return err
		}
		if err := s.recordCall(ctx, tx, a, ActionCallAccepted, c); err != nil {
			return err
		}
		out, err = s.loadCall(ctx, tx, c.ID)
		return err
	})
	return out, err
}

// answer makes a ringing call active and tells everyone who answered.
func (s *Service) answer(ctx context.Context, tx pgx.Tx, c callRow, m callMemberOf, now time.Time) error {
	if _, err := tx.Exec(ctx, sqlCallAnswered, c.ID, now); err != nil {
		return err
	}
	return events.PublishData(ctx, tx, events.TypeCallAccepted, map[string]any{
		"consultation_id": c.ConsultationID, "call_id": c.ID, "participant": m.identity, "role": string(m.role)},
		callTopics(m.r.ID, m.r.DoctorID)...)
}

// DeclineCall records that a participant declines the ringing call
// (call.declined). The patient declining ends it (reason declined); a
// guest, interpreter or expert declining leaves it ringing for the
// others. A call that is not ringing is ErrCallNotRinging.
func (s *Service) DeclineCall(ctx context.Context, p authz.Principal, a Actor, consultationID string) (Call, error) {
	var out Call
	err := s.inCall(ctx, p, a, ActionCallDeclined, consultationID, func(tx pgx.Tx, m callMemberOf) error {
		if m.role == authz.RoleDoctor {
			return ErrWrongState
		}
		c, err := s.openCall(ctx, tx, m.r.ID)
		if err != nil {
			return err
		}
		if CallState(c.State) != CallRinging {
			return ErrCallNotRinging
		}
		now := s.now()
		if _, err := tx.Exec(ctx, sqlCallDecline, c.ID, m.identity, string(m.role), now); err != nil {
			return err
		}
		if err := events.PublishData(ctx, tx, events.TypeCallDeclined, map[string]any{
			"consultation_id": c.ConsultationID, "call_id": c.ID, "participant": m.identity, "role": string(m.role)},
			callTopics(m.r.ID, m.r.DoctorID)...); err != nil {
			return err
		}
		if err := s.recordCall(ctx, tx, a, ActionCallDeclined, c); err != nil {
			return err
		}
		if m.role == authz.RolePatient {
			if err := s.endCall(ctx, tx, a, c, m.r.DoctorID, CallDeclined, now); err != nil {
				return err
			}
		}
		out, err = s.loadCall(ctx, tx, c.ID)
		return err
	})
	return out, err
}

// EndCall hangs the call up, as the consultation's doctor: every member
// is disconnected from the node (call.ended, reason hung_up).
func (s *Service) EndCall(ctx context.Context, p authz.Principal, a Actor, consultationID string) (Call, error) {
	var out Call
	err := s.inCall(ctx, p, a, ActionCallEnded, consultationID, func(tx pgx.Tx, m callMemberOf) error {
		if m.role != authz.RoleDoctor {
			return errNotCallMember
		}
		c, err := s.openCall(ctx, tx, m.r.ID)
		if err != nil {
			return err
		}
		if err := s.endCall(ctx, tx, a, c, m.r.DoctorID, CallHungUp, s.now()); err != nil {
			return err
		}
		out, err = s.loadCall(ctx, tx, c.ID)
		return err
	})
	return out, err
}

// endCall ends c inside tx: state, call.ended, audit and, when it was
// placed, the end of its room on the node.
func (s *Service) endCall(ctx context.Context, tx pgx.Tx, a Actor, c callRow, doctorID *string, reason string, now time.Time) error {
	if _, err := tx.Exec(ctx, sqlCallEnd, c.ID, now, reason); err != nil {
		return err
	}
	if err := events.PublishData(ctx, tx, events.TypeCallEnded, map[string]any{
		"consultation_id": c.ConsultationID, "call_id": c.ID, "reason": reason},
		callTopics(c.ConsultationID, doctorID)...); err != nil {
		return err
	}
	if c.NodeID != nil {
		if err := medianode.EndRoom(ctx, tx, *c.NodeID, c.ConsultationID); err != nil {
			return err
		}
	}
	return s.recordCall(ctx, tx, a, ActionCallEnded, c)
}

// endOpenCall ends the consultation's open call, if any, inside tx (the
// consultation is closing or moving). The caller pokes the media worker
// after the commit.
func (s *Service) endOpenCall(ctx context.Context, tx pgx.Tx, a Actor, r consultationRow, reason string) error {
	c, err := s.openCall(ctx, tx, r.ID)
	if errors.Is(err, ErrNoActiveCall) {
		return nil
	}
	if err != nil {
		return err
	}
	return s.endCall(ctx, tx, a, c, r.DoctorID, reason, s.now())
}

// removeFromCall takes identity out of the consultation's open call inside
// tx (revoked): marked as left and, when the call is placed, removed from
// the node's room.
func (s *Service) removeFromCall(ctx context.Context, tx pgx.Tx, a Actor, consultationID, identity string) error {
	c, err := s.openCall(ctx, tx, consultationID)
	if errors.Is(err, ErrNoActiveCall) {
		return nil
	}
	if err != nil {
		return err
	}
	return s.removeMember(ctx, tx, a, c, identity)
}

func (s *Service) removeMember(ctx context.Context, tx pgx.Tx, a Actor, c callRow, identity string) error {
	if _, err := tx.Exec(ctx, sqlCallLeft, c.ID, identity, s.now()); err != nil {
		return err
	}
	if c.NodeID == nil {
		return nil
	}
	if err := medianode.RemoveParticipant(ctx, tx, *c.NodeID, c.ConsultationID, identity); err != nil {
		return err
	}
	return s.recordCall(ctx, tx, a, ActionCallParticipantRemoved, c)
}

// RemoveUserFromCalls takes a staff user out of every open call they
// joined: their sessions ended (disabled, signed out everywhere, factor
// reset), so their place in a room must end too, within seconds.
func (s *Service) RemoveUserFromCalls(ctx context.Context, userID string) error {
	identity := userIdentity(userID)
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, sqlCallsJoinedBy, identity)
		calls, err := pgx.CollectRows(rows, pgx.RowToStructByName[callRow])
		if err != nil {
			return err
		}
		for _, c := range calls {
			if err := s.removeMember(ctx, tx, Actor{Type: audit.ActorSystem}, c, identity); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("remove user from calls: %w", err)
	}
	s.p.Media.Nodes.Poke()
	return nil
}

// JoinCall gives a member their place in the open call: its node (placing
// the call on the first join, or again when its node died), a media grant
// and TURN credentials. A participant joining a ringing call answers it.
func (s *Service) JoinCall(ctx context.Context, p authz.Principal, a Actor, consultationID string) (CallJoin, error) {
	var (
		out  CallJoin
		node medianode.Node
		m    callMemberOf
	)
	err := s.inCall(ctx, p, a, ActionCallJoined, consultationID, func(tx pgx.Tx, mm callMemberOf) error {
		m = mm
		if Status(m.r.Status) != StatusActive {
			return ErrConsultationNotActive
		}
		c, err := s.openCall(ctx, tx, m.r.ID)
		if err != nil {
			return err
		}
		if !s.p.Media.configured() {
			return ErrNoMediaNode
		}
		// The call's row lock is held: concurrent first joins wait here and
		// then find the node the first one chose.
		current := deref(c.NodeID)
		if node, err = s.p.Media.Nodes.Place(ctx, tx, current); err != nil {
			return err
		}
		if node.ID != current {
			if current != "" {
				s.p.Logger.Warn("call placed again: its media node is gone", "call", c.ID, "from", current, "to", node.ID)
			}
			if _, err := tx.Exec(ctx, sqlCallPlaced, c.ID, node.ID); err != nil {
				return err
			}
		}
		now := s.now()
		if _, err := tx.Exec(ctx, sqlCallJoin, c.ID, m.identity, string(m.role), now); err != nil {
			return err
		}
		if CallState(c.State) == CallRinging && m.identity != userIdentity(c.StartedBy) {
			if err := s.answer(ctx, tx, c, m, now); err != nil {
				return err
			}
		}
		if err := s.recordCall(ctx, tx, a, ActionCallJoined, c); err != nil {
			return err
		}
		out.Call, err = s.loadCall(ctx, tx, c.ID)
		return err
	})
	if err != nil {
		return CallJoin{}, err
	}
	name, err := s.displayName(ctx, p)
	if err != nil {
		return CallJoin{}, err
	}
	now := s.now()
	sources, audioOnly := callSources(m.role, out.Call.Kind)
	claims := grant.Claims{
		RegisteredClaims: jwt.RegisteredClaims{Subject: m.identity, ID: newUUID(),
			ExpiresAt: jwt.NewNumericDate(now.Add(s.p.Media.GrantTTL))},
		Room: m.r.ID, Node: node.ID, Name: name, Role: string(m.role), Sources: sources, AudioOnly: audioOnly,
	}
	token, err := grant.Sign(s.p.Media.GrantKey, claims, now)
	if err != nil {
		return CallJoin{}, fmt.Errorf("sign media grant: %w", err)
	}
	out.Room, out.Node, out.SignalURL, out.Grant = m.r.ID, node.ID, node.SignalURL, token
	out.GrantExpiresAt = claims.ExpiresAt.Time.UTC()
	out.Sources = sources
	out.ICEServers = []ICEServer{}
	if len(s.p.Media.TURNSecret) > 0 && len(s.p.Media.TURNURLs) > 0 {
		cred, err := turncred.Mint(s.p.Media.TURNSecret, m.identity, s.p.Media.TURNTTL, now)
		if err != nil {
			return CallJoin{}, fmt.Errorf("mint TURN credential: %w", err)
		}
		out.ICEServers = append(out.ICEServers, ICEServer{URLs: s.p.Media.TURNURLs, Username: cred.Username, Credential: cred.Password})
	}
	return out, nil
}

// callSources is what a member may publish: an audio call the microphone
// only; a video call camera and microphone, and the screen for the doctor
// alone (a patient's screen may show anything).
func callSources(role authz.Role, kind CallKind) (sources []string, audioOnly bool) {
	if kind == CallAudio {
		return []string{grant.SourceMicrophone}, true
	}
	sources = []string{grant.SourceCamera, grant.SourceMicrophone}
	if role == authz.RoleDoctor {
		sources = append(sources, grant.SourceScreen)
	}
	return sources, false
}

// displayName is the caller's name as others in the call see it.
func (s *Service) displayName(ctx context.Context, p authz.Principal) (string, error) {
	table, query, id := "participants", sqlParticipantNames, p.ID
	if p.Kind == "user" {
		table, query, id = "users", sqlUserNames, p.UserID
	}
	var firstSealed, lastSealed []byte
	if err := s.p.Pool.QueryRow(ctx, query, id).Scan(&firstSealed, &lastSealed); err != nil {
		return "", fmt.Errorf("display name: %w", mapErr(err))
	}
	first, err := s.open(table, "first_name", id, firstSealed)
	if err != nil {
		return "", err
	}
	last, err := s.open(table, "last_name", id, lastSealed)
	if err != nil {
		return "", err
	}
	name := string(first)
	if len(last) > 0 {
		name += " " + string(last)
	}
	for len(name) > maxGrantName {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	return name, nil
}

type overdueCall struct {
	callRow
	DoctorID *string `db:"doctor_id"`
}

// EndOverdueCalls ends the calls nobody answered within RingTimeout (reason
// no_answer) and those older than MaxDuration (max_duration). Every
// replica may run it at once. It returns how many calls it ended.
func (s *Service) EndOverdueCalls(ctx context.Context) (int64, error) {
	now := s.now()
	var n int64
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, sqlOverdueCalls, now.Add(-s.p.Media.RingTimeout), now.Add(-s.p.Media.MaxDuration), callSweepBatch)
		due, err := pgx.CollectRows(rows, pgx.RowToStructByName[overdueCall])
		if err != nil {
			return err
		}
		for _, c := range due {
			reason := CallNoAnswer
			if !c.StartedAt.After(now.Add(-s.p.Media.MaxDuration)) {
				reason = CallMaxDuration
			}
			if err := s.endCall(ctx, tx, Actor{Type: audit.ActorSystem}, c.callRow, c.DoctorID, reason, now); err != nil {
				return err
			}
		}
		n = int64(len(due))
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("end overdue calls: %w", err)
	}
	if n > 0 {
		s.p.Media.Nodes.Poke()
	}
	return n, nil
}

// RunCallTimeouts ends overdue calls every interval until ctx ends. The
// state is in the database, so a restart loses no timer.
func (s *Service) RunCallTimeouts(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := s.EndOverdueCalls(ctx); err != nil && ctx.Err() == nil {
			s.p.Logger.Error("call timeouts", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
