// Package authz is the one place that decides who may do what. Every API
// operation names the permission it needs; the router asks Allowed before
// the handler runs, and handlers ask the object-level questions (may this
// doctor see this queue?) through the functions here. Anything not granted
// below is refused.
package authz

import (
	"errors"
	"slices"
	"strings"
)

// Role is a staff role, or a participant's role in one consultation.
type Role string

// Staff roles (accounts) and participant roles (invite-based, scoped to one
// consultation).
const (
	RoleAdmin     Role = "admin"
	RoleDoctor    Role = "doctor"
	RoleNurse     Role = "nurse"
	RoleScheduler Role = "scheduler"

	RolePatient     Role = "patient"
	RoleGuest       Role = "guest"
	RoleInterpreter Role = "interpreter"
	RoleExpert      Role = "expert"
)

// StaffRoles are the roles an account can have.
var StaffRoles = []Role{RoleAdmin, RoleDoctor, RoleNurse, RoleScheduler}

// AllRoles are every role a caller can have.
var AllRoles = []Role{RoleAdmin, RoleDoctor, RoleNurse, RoleScheduler, RolePatient, RoleGuest, RoleInterpreter, RoleExpert}

// Permission names one kind of action.
type Permission string

// Permissions. A new operation adds its permission here and to policy.
const (
	// Self: one's own account (profile, password, factors, sessions).
	PermSelf Permission = "self"
	// Users: list, create, change, disable users; approve nurses; reset
	// a user's second factor.
	PermUsersManage Permission = "users.manage"
	// API keys: create and revoke.
	PermAPIKeysManage Permission = "api_keys.manage"
	// Audit: read the trail and verify the chain.
	PermAuditRead Permission = "audit.read"
	// Settings: read and change the instance settings (branding, logo,
	// retention, patient languages, invite timing).
	PermSettingsManage Permission = "settings.manage"
	// Queues: create, change, delete queues and set their members.
	PermQueuesManage Permission = "queues.manage"
	// Queues: list the queues one sees (all of them for admins).
	PermQueuesRead Permission = "queues.read"
	// Invites: create, resend and revoke invites (object checks in the
	// handler: CanInviteToQueue).
	PermInvitesCreate Permission = "invites.create"
	// Invites: list one's invites and read one.
	PermInvitesRead Permission = "invites.read"
	// Consultations: read waiting lists (with patient names), a
	// consultation's detail and one's history (object checks in the
	// service: CanSeeQueue, or the consultation's doctor).
	PermConsultationsRead Permission = "consultations.read"
	// Consultations: accept, send an estimate, transfer, cancel, close,
	// write the private note (same object checks).
	PermConsultationsManage Permission = "consultations.manage"
	// Participant: one's own participation (scoped to one consultation by
	// the principal's ConsultationID).
	PermParticipantSelf Permission = "participant.self"
	// Calls: see, answer, decline and join a consultation's call (object
	// check in the service: the consultation's participants and doctor).
	PermCallsJoin Permission = "calls.join"
	// Calls: start and end a consultation's call (its doctor).
	PermCallsManage Permission = "calls.manage"
	// Media nodes: list the media node pool and its health.
	PermMediaNodesRead Permission = "media_nodes.read"
	// Interpreter organisations: create, change, delete them and read
	// their members' addresses.
	PermInterpreterOrganisationsManage Permission = "interpreter_organisations.manage"
	// Interpreter organisations: list their names and languages, to
	// request an interpreter (doctors; object check on the consultation
	// in the service, as for adding participants).
	PermInterpreterOrganisationsRead Permission = "interpreter_organisations.read"
)

// policy grants permissions to roles. Deny by default: a permission or role
// missing here is refused.
var policy = map[Permission][]Role{
	PermSelf:           {RoleAdmin, RoleDoctor, RoleNurse},
	PermUsersManage:    {RoleAdmin},
	PermAPIKeysManage:  {RoleAdmin},
	PermAuditRead:      {RoleAdmin},
	PermSettingsManage: {RoleAdmin},

	PermQueuesManage:    {RoleAdmin},
	PermQueuesRead:      {RoleAdmin, RoleDoctor, RoleNurse},
	PermInvitesCreate:   {RoleAdmin, RoleDoctor, RoleNurse, RoleScheduler},
	PermInvitesRead:     {RoleAdmin, RoleDoctor, RoleNurse, RoleScheduler},
	PermParticipantSelf: {RolePatient, RoleGuest, RoleInterpreter, RoleExpert},

	PermConsultationsRead:   {RoleDoctor, RoleNurse},
	PermConsultationsManage: {RoleDoctor},

	PermCallsJoin:      {RoleDoctor, RolePatient, RoleGuest, RoleInterpreter, RoleExpert},
	PermCallsManage:    {RoleDoctor},
	PermMediaNodesRead: {RoleAdmin},

	PermInterpreterOrganisationsManage: {RoleAdmin},
	PermInterpreterOrganisationsRead:   {RoleAdmin, RoleDoctor},
}

// ErrForbidden is the refusal of an authenticated caller.
var ErrForbidden = errors.New("forbidden")

// Allowed reports whether role may act under perm.
func Allowed(role Role, perm Permission) bool {
	return slices.Contains(policy[perm], role)
}

// Known reports whether perm exists in the policy, so a typo in an
// operation is caught at start rather than silently refusing everyone.
func Known(perm Permission) bool {
	_, ok := policy[perm]
	return ok
}

// Principal is an authenticated caller.
type Principal struct {
	// Kind is "user" (a staff session), "api_key" or "participant".
	Kind string
	// ID is the user id, API key id or participant id.
	ID string
	// UserID is the account behind a session or an API key.
	UserID string
	// Role is the caller's role (an API key's scope for keys).
	Role Role
	// AllQueues is true for staff who see every queue.
	AllQueues bool
	// QueueIDs are the queues a staff member belongs to.
	QueueIDs []string
	// ConsultationID is the one consultation a participant belongs to;
	// empty for staff.
	ConsultationID string
}

// CanSeeQueue is the object-level rule for queues: admins see every queue;
// doctors and nurses see every queue when they have "all queues", else
// only their own; participants and API keys see none.
func CanSeeQueue(p Principal, queueID string) bool {
	switch {
	case p.Kind != "user":
		return false
	case p.Role == RoleAdmin:
		return true
	case p.Role == RoleDoctor || p.Role == RoleNurse:
		return p.AllQueues || slices.Contains(p.QueueIDs, queueID)
	default:
		return false
	}
}

// CanInviteToQueue is the object-level rule for inviting into a queue:
// admins and schedulers (integrations booking for the whole practice, by
// session or API key) may target any queue; doctors and nurses signed in
// the queues they see (CanSeeQueue). Doctor or nurse API keys target no
// queue (they may still invite to a named doctor).
func CanInviteToQueue(p Principal, queueID string) bool {
	switch {
	case p.Kind != "user" && p.Kind != "api_key":
		return false
	case p.Role == RoleAdmin || p.Role == RoleScheduler:
		return true
	default:
		return CanSeeQueue(p, queueID)
	}
}

// InConsultation is the object-level rule for a participant: they see
// their own consultation and nothing else. Staff rules are elsewhere.
func InConsultation(p Principal, consultationID string) bool {
	return p.Kind == "participant" && p.ConsultationID != "" && p.ConsultationID == consultationID
}

// CanReceiveEvent is CanReceive for an event of type eventType: chat
// events ("chat.*") go only to those who may read the chat, the
// consultation's participants and staff allowed PermConsultationsManage
// (doctors). Nurses see waiting lists and consultations
// (PermConsultationsRead) but not their chat, so they do not hear of its
// messages either.
func CanReceiveEvent(p Principal, eventType, topic string) bool {
	if !CanReceive(p, topic) {
		return false
	}
	if strings.HasPrefix(eventType, "chat.") && p.Kind != "participant" {
		return Allowed(p.Role, PermConsultationsManage)
	}
	return true
}

// CanReceive is the object-level rule for real-time events, checked for
// every event before it is written to a socket. topic is "<kind>:<id>":
// a queue's events go to the doctors and nurses who see it (admins
// administer queues but do not watch patients wait), a user's to that
// account, a consultation's to its participants. Staff learn of their
// consultations through queue and user topics.
func CanReceive(p Principal, topic string) bool {
	kind, id, ok := strings.Cut(topic, ":")
	if !ok || id == "" {
		return false
	}
	switch kind {
	case "queue":
		return (p.Role == RoleDoctor || p.Role == RoleNurse) && CanSeeQueue(p, id)
	case "user":
		return p.Kind == "user" && p.UserID == id
	case "consultation":
		return InConsultation(p, id)
	default:
		return false
	}
}
