// Package consultation keeps queues, consultations, their invite-based
// participants, invites and participant sessions in PostgreSQL.
//
// # Consultation states
//
// A consultation is created together with its patient's invite, in status
// invited: it is in no queue view yet. The patient's first successful
// redemption moves it to pending (waiting in its queue, or for its named
// doctor); accepting (a later part) moves it to active, closing to closed.
//
//	invited -> pending -> active -> closed
//	invited, pending -> closed (cancelled)
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
// revoked, expired (InviteTTL after the scheduled time, or after creation
// when unscheduled), too early (more than InviteEarly before the scheduled
// time; the error carries the opening time) or its consultation closed.
// Otherwise it opens a participant session scoped to that consultation.
// Redeeming again while the consultation is open and the invite unexpired
// (a patient who lost the cookie) opens a new session for the same
// participant. Participant sessions end at their lifetime, when revoked,
// and as soon as the consultation is closed.
//
// Tokens are never stored in clear nor logged; names, contact details,
// notes and metadata are sealed (AAD "<table>.<column>:<id>").
package consultation
