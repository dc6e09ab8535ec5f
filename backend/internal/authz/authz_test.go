package authz

import "testing"

// expected is written out independently of policy: a change to who may do
// what must change both, on purpose.
var expected = map[Permission]map[Role]bool{
	PermSelf:           {RoleAdmin: true, RoleDoctor: true, RoleNurse: true},
	PermUsersManage:    {RoleAdmin: true},
	PermAPIKeysManage:  {RoleAdmin: true},
	PermAuditRead:      {RoleAdmin: true},
	PermSettingsManage: {RoleAdmin: true},

	PermQueuesManage:    {RoleAdmin: true},
	PermQueuesRead:      {RoleAdmin: true, RoleDoctor: true, RoleNurse: true},
	PermInvitesCreate:   {RoleAdmin: true, RoleDoctor: true, RoleNurse: true, RoleScheduler: true},
	PermInvitesRead:     {RoleAdmin: true, RoleDoctor: true, RoleNurse: true, RoleScheduler: true},
	PermParticipantSelf: {RolePatient: true, RoleGuest: true, RoleInterpreter: true, RoleExpert: true},

	PermConsultationsRead:   {RoleDoctor: true, RoleNurse: true},
	PermConsultationsManage: {RoleDoctor: true},

	PermCallsJoin:      {RoleDoctor: true, RolePatient: true, RoleGuest: true, RoleInterpreter: true, RoleExpert: true},
	PermCallsManage:    {RoleDoctor: true},
	PermMediaNodesRead: {RoleAdmin: true},

	PermInterpreterOrganisationsManage: {RoleAdmin: true},
	PermInterpreterOrganisationsRead:   {RoleAdmin: true, RoleDoctor: true},
}

func TestPolicyMatrix(t *testing.T) {
	for perm := range policy {
		if _, ok := expected[perm]; !ok {
			t.Errorf("permission %q has no expected row", perm)
		}
	}
	for perm, roles := range expected {
		for _, role := range AllRoles {
			if got := Allowed(role, perm); got != roles[role] {
				t.Errorf("Allowed(%s, %s) = %v, want %v", role, perm, got, roles[role])
			}
		}
	}
}

func TestDenyByDefault(t *testing.T) {
	if Allowed(RoleAdmin, Permission("no.such.permission")) {
		t.Fatal("an unknown permission was granted")
	}
	if Allowed(Role("root"), PermUsersManage) {
		t.Fatal("an unknown role was granted")
	}
	if Known("no.such.permission") || !Known(PermSelf) {
		t.Fatal("Known is wrong")
	}
}

func TestCanSeeQueue(t *testing.T) {
	for _, tc := range []struct {
		p    Principal
		want bool
	}{
		{Principal{Kind: "user", Role: RoleAdmin}, true},
		{Principal{Kind: "user", Role: RoleDoctor, AllQueues: true}, true},
		{Principal{Kind: "user", Role: RoleDoctor, QueueIDs: []string{"q1"}}, true},
		{Principal{Kind: "user", Role: RoleDoctor, QueueIDs: []string{"q2"}}, false},
		{Principal{Kind: "user", Role: RoleNurse}, false},
		{Principal{Kind: "user", Role: RoleScheduler, AllQueues: true}, false},
		{Principal{Kind: "participant", Role: RolePatient, QueueIDs: []string{"q1"}}, false},
		{Principal{Kind: "api_key", Role: RoleAdmin}, false},
	} {
		if got := CanSeeQueue(tc.p, "q1"); got != tc.want {
			t.Errorf("CanSeeQueue(%+v) = %v, want %v", tc.p, got, tc.want)
		}
	}
}

func TestCanInviteToQueue(t *testing.T) {
	for _, tc := range []struct {
		p    Principal
		want bool
	}{
		{Principal{Kind: "user", Role: RoleAdmin}, true},
		{Principal{Kind: "api_key", Role: RoleAdmin}, true},
		{Principal{Kind: "api_key", Role: RoleScheduler}, true},
		{Principal{Kind: "user", Role: RoleDoctor, QueueIDs: []string{"q1"}}, true},
		{Principal{Kind: "user", Role: RoleNurse, AllQueues: true}, true},
		{Principal{Kind: "user", Role: RoleDoctor, QueueIDs: []string{"q2"}}, false},
		{Principal{Kind: "api_key", Role: RoleDoctor, QueueIDs: []string{"q1"}}, false},
		{Principal{Kind: "participant", Role: RolePatient, QueueIDs: []string{"q1"}}, false},
	} {
		if got := CanInviteToQueue(tc.p, "q1"); got != tc.want {
			t.Errorf("CanInviteToQueue(%+v) = %v, want %v", tc.p, got, tc.want)
		}
	}
}

func TestInConsultation(t *testing.T) {
	p := Principal{Kind: "participant", Role: RolePatient, ConsultationID: "c1"}
	if !InConsultation(p, "c1") || InConsultation(p, "c2") || InConsultation(Principal{Kind: "user", ConsultationID: "c1"}, "c1") ||
		InConsultation(Principal{Kind: "participant"}, "") {
		t.Fatal("InConsultation is wrong")
	}
}

func TestCanReceive(t *testing.T) {
	doctor := Principal{Kind: "user", ID: "d", UserID: "d", Role: RoleDoctor, QueueIDs: []string{"q1"}}
	allNurse := Principal{Kind: "user", ID: "n", UserID: "n", Role: RoleNurse, AllQueues: true}
	admin := Principal{Kind: "user", ID: "a", UserID: "a", Role: RoleAdmin}
	patient := Principal{Kind: "participant", ID: "p", Role: RolePatient, ConsultationID: "c1"}
	key := Principal{Kind: "api_key", ID: "k", UserID: "d", Role: RoleDoctor, QueueIDs: []string{"q1"}}
	for _, tc := range []struct {
		name  string
		p     Principal
		topic string
		want  bool
	}{
		{"doctor own queue", doctor, "queue:q1", true},
		{"doctor other queue", doctor, "queue:q2", false},
		{"all-queues nurse", allNurse, "queue:q2", true},
		{"admin queue", admin, "queue:q1", false},
		{"doctor self", doctor, "user:d", true},
		{"doctor other user", doctor, "user:n", false},
		{"api key user", key, "user:d", false},
		{"api key queue", key, "queue:q1", false},
		{"doctor consultation", doctor, "consultation:c1", false},
		{"patient own", patient, "consultation:c1", true},
		{"patient other", patient, "consultation:c2", false},
		{"patient queue", patient, "queue:q1", false},
		{"patient user", patient, "user:p", false},
		{"malformed", doctor, "queue", false},
		{"empty id", patient, "consultation:", false},
		{"unknown kind", admin, "audit:x", false},
	} {
		if got := CanReceive(tc.p, tc.topic); got != tc.want {
			t.Errorf("%s: CanReceive = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestCanReceiveEvent: chat events go to those who may read the chat
// (participants, doctors), not to nurses who see the queue; other events
// follow CanReceive.
func TestCanReceiveEvent(t *testing.T) {
	doctor := Principal{Kind: "user", ID: "d", UserID: "d", Role: RoleDoctor, QueueIDs: []string{"q1"}}
	nurse := Principal{Kind: "user", ID: "n", UserID: "n", Role: RoleNurse, QueueIDs: []string{"q1"}}
	guest := Principal{Kind: "participant", ID: "g", Role: RoleGuest, ConsultationID: "c1"}
	for _, tc := range []struct {
		name       string
		p          Principal
		typ, topic string
		want       bool
	}{
		{"doctor chat", doctor, "chat.message", "queue:q1", true},
		{"doctor read receipt", doctor, "chat.read", "queue:q1", true},
		{"nurse chat", nurse, "chat.message", "queue:q1", false},
		{"nurse read receipt", nurse, "chat.read", "queue:q1", false},
		{"nurse queue change", nurse, "queue.changed", "queue:q1", true},
		{"nurse presence", nurse, "participant.presence", "queue:q1", true},
		{"guest chat", guest, "chat.message", "consultation:c1", true},
		{"guest other chat", guest, "chat.message", "consultation:c2", false},
		{"doctor other queue", doctor, "chat.message", "queue:q2", false},
	} {
		if got := CanReceiveEvent(tc.p, tc.typ, tc.topic); got != tc.want {
			t.Errorf("%s: CanReceiveEvent = %v, want %v", tc.name, got, tc.want)
		}
	}
}
