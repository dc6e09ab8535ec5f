package staffapi_test

import (
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/backend/internal/account"
	"github.com/hcw-home/hcw/backend/internal/audit"
)

type auditEvent struct {
	Seq            int64     `json:"seq"`
	At             time.Time `json:"at"`
	ActorType      string    `json:"actor_type"`
	ActorID        *string   `json:"actor_id"`
	Action         string    `json:"action"`
	ObjectType     *string   `json:"object_type"`
	ObjectID       *string   `json:"object_id"`
	ConsultationID *string   `json:"consultation_id"`
	ClientIP       *string   `json:"client_ip"`
	Outcome        string    `json:"outcome"`
}

type auditPage struct {
	Events     []auditEvent `json:"events"`
	NextBefore *int64       `json:"next_before"`
}

func TestAuditListing(t *testing.T) {
	e := newEnv(t)
	admin := e.signIn(e.user(account.RoleAdmin, "admin@example.org"))
	doctor := e.signIn(e.user(account.RoleDoctor, "doctor@example.org"))

	// 120 events of two actors over 120 minutes, every third one on a
	// consultation, every fifth one denied.
	base := time.Date(2026, 2, 1, 8, 0, 0, 0, time.UTC)
	for i := range 120 {
		ev := audit.Event{At: base.Add(time.Duration(i) * time.Minute), ActorType: audit.ActorUser, ActorID: "user-a",
			Action: "test.event", ObjectType: "thing", ObjectID: "thing-" + strconv.Itoa(i%4),
			ClientIP: netip.MustParseAddr("192.0.2.10"), Outcome: audit.OutcomeSuccess}
		if i%2 == 1 {
			ev.ActorID = "user-b"
		}
		if i%3 == 0 {
			ev.ConsultationID = "c-1"
		}
		if i%5 == 0 {
			ev.Outcome = audit.OutcomeDenied
		}
		require.NoError(t, e.audit.Append(t.Context(), ev))
	}
	list := func(q url.Values) auditPage {
		t.Helper()
		res := e.do(&admin.caller, "GET", "/api/v1/admin/audit?"+q.Encode(), nil)
		require.Equal(t, 200, res.status, string(res.body))
		var p auditPage
		res.json(t, &p)
		return p
	}

	t.Run("default page", func(t *testing.T) {
		p := list(url.Values{})
		require.Len(t, p.Events, 50)
		require.NotNil(t, p.NextBefore)
		for i := 1; i < len(p.Events); i++ {
			assert.Greater(t, p.Events[i-1].Seq, p.Events[i].Seq, "newest first")
		}
		assert.Equal(t, *p.NextBefore, p.Events[49].Seq)
	})

	t.Run("pages without gaps or duplicates", func(t *testing.T) {
		var want []int64
		rows, err := e.audit.List(t.Context(), audit.Filter{Action: "test.event", Limit: audit.MaxListLimit})
		require.NoError(t, err)
		for _, r := range rows.Records {
			want = append(want, r.Seq)
		}
		require.Len(t, want, 120)
		var got []int64
		q := url.Values{"action": {"test.event"}, "limit": {"7"}}
		for pages := 0; ; pages++ {
			require.Less(t, pages, 100, "the walk ends")
			p := list(q)
			for _, ev := range p.Events {
				got = append(got, ev.Seq)
			}
			// Appends while walking do not shift the pages.
			require.NoError(t, e.audit.Append(t.Context(), audit.Event{ActorType: audit.ActorSystem, Action: "test.event",
				Outcome: audit.OutcomeSuccess}))
			if p.NextBefore == nil {
				break
			}
			q.Set("before", strconv.FormatInt(*p.NextBefore, 10))
		}
		assert.Equal(t, want, got)
	})

	t.Run("filters", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			q     url.Values
			want  int
			check func(auditEvent) bool
		}{
			{"actor", url.Values{"actor_id": {"user-b"}, "action": {"test.event"}}, 60,
				func(ev auditEvent) bool { return *ev.ActorID == "user-b" }},
			{"actor type and object", url.Values{"actor_type": {"user"}, "object_type": {"thing"}, "object_id": {"thing-1"}}, 30,
				func(ev auditEvent) bool { return *ev.ObjectID == "thing-1" }},
			{"consultation", url.Values{"consultation_id": {"c-1"}}, 40,
				func(ev auditEvent) bool { return *ev.ConsultationID == "c-1" }},
			{"outcome", url.Values{"outcome": {"denied"}, "action": {"test.event"}}, 24,
				func(ev auditEvent) bool { return ev.Outcome == "denied" }},
			// from included, to excluded: minutes 10 to 19.
			{"time range", url.Values{"action": {"test.event"}, "from": {base.Add(10 * time.Minute).Format(time.RFC3339)},
				"to": {base.Add(20 * time.Minute).Format(time.RFC3339)}}, 10,
				func(ev auditEvent) bool {
					return !ev.At.Before(base.Add(10*time.Minute)) && ev.At.Before(base.Add(20*time.Minute))
				}},
			// 08:50Z to 10:00Z: minutes 50 to 119.
			{"time range in another zone", url.Values{"action": {"test.event"}, "from": {"2026-02-01T09:50:00+01:00"},
				"to": {"2026-02-01T10:00:00Z"}}, 70, nil},
			{"all at once", url.Values{"action": {"test.event"}, "actor_id": {"user-a"}, "consultation_id": {"c-1"},
				"outcome": {"denied"}}, 4, func(ev auditEvent) bool { return *ev.ActorID == "user-a" }},
			{"nothing", url.Values{"action": {"no.such_action"}}, 0, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				tc.q.Set("limit", "200")
				p := list(tc.q)
				assert.Len(t, p.Events, tc.want)
				assert.Nil(t, p.NextBefore)
				for _, ev := range p.Events {
					if tc.check != nil {
						assert.True(t, tc.check(ev), "%+v", ev)
					}
				}
			})
		}
	})

	t.Run("rows say who, what, when, on what, from where", func(t *testing.T) {
		p := list(url.Values{"action": {"test.event"}, "actor_id": {"user-a"}, "limit": {"1"},
			"to": {base.Add(time.Minute).Format(time.RFC3339)}})
		require.Len(t, p.Events, 1)
		ev := p.Events[0]
		assert.Equal(t, base, ev.At)
		assert.Equal(t, "user", ev.ActorType)
		assert.Equal(t, "thing", *ev.ObjectType)
		assert.Equal(t, "thing-0", *ev.ObjectID)
		assert.Equal(t, "c-1", *ev.ConsultationID)
		assert.Equal(t, "192.0.2.10", *ev.ClientIP)
		assert.Equal(t, "denied", ev.Outcome)
		res := e.do(&admin.caller, "GET", "/api/v1/admin/audit?limit=1", nil)
		assert.NotContains(t, string(res.body), "hash", "the chain's hashes are not part of a row")
	})

	t.Run("reads are audited", func(t *testing.T) {
		p := list(url.Values{"action": {audit.ActionAuditRead}, "actor_id": {admin.user.ID}})
		assert.NotEmpty(t, p.Events)
	})

	t.Run("bad filters", func(t *testing.T) {
		for _, tc := range []struct{ query, field string }{
			{"from=yesterday", "from"},
			{"to=2026-02-01", "to"},
			{"from=2026-02-01T10:00:00Z&to=2026-02-01T10:00:00Z", "to"},
			{"from=2026-02-02T00:00:00Z&to=2026-02-01T00:00:00Z", "to"},
			{"limit=0", "limit"},
			{"limit=201", "limit"},
			{"limit=ten", "limit"},
			{"before=0", "before"},
			{"before=-5", "before"},
			{"before=99999999999999999999", "before"},
			{"action=Sign+In", "action"},
			{"action=" + url.QueryEscape(string(slices.Repeat([]byte("a"), 65))), "action"},
			{"actor_type=root", "actor_type"},
			{"actor_id=" + url.QueryEscape("a b"), "actor_id"},
			{"object_id=" + url.QueryEscape("<script>"), "object_id"},
			{"object_type=Thing", "object_type"},
			{"consultation_id=" + url.QueryEscape("c;1"), "consultation_id"},
			{"outcome=maybe", "outcome"},
		} {
			t.Run(tc.query, func(t *testing.T) {
				res := e.do(&admin.caller, "GET", "/api/v1/admin/audit?"+tc.query, nil)
				require.Equal(t, 400, res.status, string(res.body))
				var body struct {
					Error struct{ Code, Field, Message string }
				}
				res.json(t, &body)
				assert.Equal(t, "invalid_request", body.Error.Code)
				assert.Equal(t, tc.field, body.Error.Field)
				assert.NotEmpty(t, body.Error.Message)
			})
		}
	})

	t.Run("only administrators", func(t *testing.T) {
		res := e.do(&doctor.caller, "GET", "/api/v1/admin/audit", nil)
		assert.Equal(t, 403, res.status)
		res = e.do(&caller{}, "GET", "/api/v1/admin/audit", nil)
		assert.Equal(t, 401, res.status)
		p := list(url.Values{"action": {audit.ActionAuditRead}, "actor_id": {doctor.user.ID}})
		assert.Empty(t, p.Events, "a refused read reads nothing")
	})
}

func TestAuditListStore(t *testing.T) {
	e := newEnv(t)
	for i := range 5 {
		require.NoError(t, e.audit.Append(t.Context(), audit.Event{ActorType: audit.ActorSystem,
			Action: fmt.Sprintf("store.event_%c", 'a'+i), Outcome: audit.OutcomeSuccess}))
	}
	p, err := e.audit.List(t.Context(), audit.Filter{Limit: 2})
	require.NoError(t, err)
	require.Len(t, p.Records, 2)
	assert.Equal(t, "store.event_e", p.Records[0].Action)
	assert.Nil(t, p.Records[0].ActorID)
	assert.Nil(t, p.Records[0].ClientIP)
	p, err = e.audit.List(t.Context(), audit.Filter{Limit: 2, Before: p.NextBefore})
	require.NoError(t, err)
	assert.Equal(t, "store.event_c", p.Records[0].Action)
	_, err = e.audit.List(t.Context(), audit.Filter{Limit: audit.MaxListLimit + 1})
	assert.ErrorIs(t, err, audit.ErrInvalidFilter)
}
