// Package consultation keeps queues, consultations, their invite-based
// participants, invites and participant sessions in PostgreSQL.
//
// # Consultation states
//
// A consultation is created together with its patient's invite, in status
// invited: it is in no queue view yet. The patient's first successful
// redemption moves it to pending (waiting in its queue, or for its named
// doctor); a doctor accepting moves it to active (the first of concurrent
// accepts wins: a conditional UPDATE ... WHERE status = 'pending'), its
// doctor closing to closed (reason completed). Cancelling closes one not
// yet accepted (reason cancelled); a transfer to another queue or doctor
// makes a pending or active one wait again there, keeping its waiting
// time.
//
//	invited -> pending -> active -> closed
//	invited, pending -> closed (cancelled)
//	pending, active -> pending (transfer)
//
// Closing revokes every participant session and every invite not yet
// redeemed, writes an anonymous consultation_stats row and publishes
// consultation.closed (package events), on which every replica closes the
// participants' sockets. Revoking an invite ends its participant's
// sessions and publishes participant.revoked, on which every replica
// closes that participant's sockets. Each change publishes its events in the
// transaction that makes it. Staff reads of patient data (waiting lists,
// a consultation, one's history) are audited per consultation. The
// doctor's note is sealed like the names and shown to staff only.
//
// # Chat
//
// See chat.go: messages numbered per consultation under its row lock,
// idempotent per sender and key, sealed, every read audited, read-only
// once the consultation is closed.
//
// # Calls
//
// See call.go: one open call per consultation, started by its doctor,
// ringing until a participant answers, placed on a media node (package
// medianode) at the first join, ended by the doctor, the patient's
// decline, the ring and duration limits, or the consultation closing or
// moving; every removal reaches the node through queued control commands.
//
// # Presence
//
// See presence.go: one row per participant and replica with sockets open,
// refreshed by a heartbeat and counted only while fresh.
//
// # Invite states
//
// Every transition goes through InviteStatus.CanBecome, the one table of
// allowed moves:
//
//	created         -> sent | delivery_failed | opened | redeemed | expired | revoked
//	sent            -> opened | redeemed | expired | revoked
//	delivery_failed -> opened | redeemed | expired | revoked
//	opened          -> redeemed | expired | revoked
//	redeemed        -> revoked
//	expired         -> revoked
//	revoked         (final)
//
// sent and delivery_failed record the e-mail delivery (a copy-the-link
// invite stays created); opened means the link was presented before it
// opens (too early), which proves it reached its holder; expired is
// written when a redemption finds the invite past expires_at (reads report
// an unwritten expiry too). A resend cannot repeat the link, whose token
// is stored hashed only: it revokes the invite and issues a new one (new
// token, same participant and consultation).
//
// # Redemption
//
// A redemption is refused, each with its own error, when the token is
// unknown (ErrInviteInvalid; counted per client address, and after
// RedeemThreshold failures the address waits, doubling up to MaxBackoff),
// revoked, expired (the invite validity after the scheduled time, or after
// creation when unscheduled), too early (more than the opening lead before
// the scheduled time; the error carries the opening time) or its
// consultation closed. Validity and lead are the instance settings'
// (Params.InviteTiming) where an administrator set them, else InviteTTL
// and InviteEarly (HCW_INVITE_TTL, HCW_INVITE_EARLY). The expiry is fixed
// when the invite is issued; the lead is applied when it is redeemed.
// Otherwise it opens a participant session scoped to that consultation.
// Redeeming again while the consultation is open and the invite unexpired
// (a patient who lost the cookie) opens a new session for the same
// participant. Participant sessions end at their lifetime, when revoked,
// and as soon as the consultation is closed.
//
// Guests, interpreters and experts (participants.go) are added to a
// consultation by its doctor through the same invites; their redemption
// never changes the consultation's status.
//
// Tokens are never stored in clear nor logged; names, contact details,
// notes and metadata are sealed (AAD "<table>.<column>:<id>").
package consultation
