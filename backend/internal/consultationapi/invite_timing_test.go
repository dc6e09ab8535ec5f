package consultationapi_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/backend/internal/audit"
	"github.com/hcw-home/hcw/backend/internal/consultationapi"
	"github.com/hcw-home/hcw/backend/internal/settings"
)

// TestInviteTimingFromSettings: the invite validity and opening lead that
// an administrator sets replace HCW_INVITE_TTL and HCW_INVITE_EARLY at
// once, for new invites and for redemptions; cleared, the environment's
// apply again.
func TestInviteTimingFromSettings(t *testing.T) {
	e := newEnv(t)
	f := e.clinic()
	set := func(ttl, early *int) {
		t.Helper()
		doc := settings.Defaults()
		doc.InviteTTLMinutes, doc.InviteEarlyMinutes = ttl, early
		_, err := e.settings.Update(t.Context(), settings.Actor{Type: audit.ActorUser, ID: f.adminUser.ID}, doc)
		require.NoError(t, err)
	}
	minutes := func(m int) *int { return &m }

	inv, _ := e.invite(f.doctorIn, map[string]any{"queue_id": f.queueID})
	assert.True(t, e.clock.now().Add(24*time.Hour).Equal(inv.Invite.ExpiresAt), "the environment's default: %s", inv.Invite.ExpiresAt)

	set(minutes(90), minutes(30))
	unscheduled, token := e.invite(f.doctorIn, map[string]any{"queue_id": f.queueID})
	assert.True(t, e.clock.now().Add(90*time.Minute).Equal(unscheduled.Invite.ExpiresAt), "%s", unscheduled.Invite.ExpiresAt)

	at := e.clock.now().Add(3 * time.Hour).Truncate(time.Second)
	inv, scheduled := e.invite(f.doctorIn, map[string]any{"queue_id": f.queueID, "scheduled_at": at.Format(time.RFC3339), "time_zone": "Europe/Zurich"})
	assert.True(t, at.Add(90*time.Minute).Equal(inv.Invite.ExpiresAt), "%s", inv.Invite.ExpiresAt)
	res, _ := e.redeem(scheduled)
	require.Equal(t, 409, res.status, string(res.body))
	assert.Equal(t, consultationapi.CodeInviteTooEarly, res.code())
	var body struct {
		Error struct {
			OpensAt time.Time `json:"opens_at"`
		}
	}
	res.json(t, &body)
	assert.True(t, at.Add(-30*time.Minute).Equal(body.Error.OpensAt), "%s", body.Error.OpensAt)

	e.clock.set(at.Add(-31 * time.Minute))
	res, _ = e.redeem(scheduled)
	assert.Equal(t, 409, res.status, "still too early")
	e.clock.set(at.Add(-29 * time.Minute))
	res, _ = e.redeem(scheduled)
	assert.Equal(t, 200, res.status, string(res.body))

	// The unscheduled invite made under the override lives 90 minutes.
	e.clock.set(unscheduled.Invite.ExpiresAt)
	res, _ = e.redeem(token)
	assert.Equal(t, 410, res.status, string(res.body))

	set(nil, nil)
	inv, _ = e.invite(f.doctorIn, map[string]any{"queue_id": f.queueID})
	assert.True(t, e.clock.now().Add(24*time.Hour).Equal(inv.Invite.ExpiresAt), "%s", inv.Invite.ExpiresAt)
}

// TestInviteLanguageFromSettings: invites are in a language the clinic
// offers (a regional tag of one goes), default to the first offered, and
// one the clinic does not offer is refused with the field named, for the
// patient's invite and for an added guest or expert alike (an
// interpreter's is the language they interpret: any).
func TestInviteLanguageFromSettings(t *testing.T) {
	e := newEnv(t)
	f := e.clinic()
	language := func(body []byte) string {
		t.Helper()
		var out struct {
			Invite struct {
				Language string `json:"language"`
			} `json:"invite"`
		}
		require.NoError(t, json.Unmarshal(body, &out), string(body))
		return out.Invite.Language
	}
	person := func(extra map[string]any) map[string]any {
		req := map[string]any{"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.org", "queue_id": f.queueID}
		for k, v := range extra {
			req[k] = v
		}
		return req
	}

	res := e.do(f.doctorIn, "POST", "/api/v1/invites", person(nil))
	require.Equal(t, 201, res.status, string(res.body))
	assert.Equal(t, "en", language(res.body), "all six offered: en first")

	doc := settings.Defaults()
	doc.Languages = []string{"fr", "de"}
	_, err := e.settings.Update(t.Context(), settings.Actor{Type: audit.ActorUser, ID: f.adminUser.ID}, doc)
	require.NoError(t, err)

	res = e.do(f.doctorIn, "POST", "/api/v1/invites", person(nil))
	require.Equal(t, 201, res.status, string(res.body))
	assert.Equal(t, "fr", language(res.body), "the first offered")
	var created struct {
		Invite struct {
			ConsultationID string `json:"consultation_id"`
		} `json:"invite"`
	}
	require.NoError(t, json.Unmarshal(res.body, &created))

	res = e.do(f.doctorIn, "POST", "/api/v1/invites", person(map[string]any{"language": "de-CH"}))
	require.Equal(t, 201, res.status, string(res.body))
	assert.Equal(t, "de-CH", language(res.body))

	for _, lang := range []string{"en", "it-CH", "pt"} {
		res = e.do(f.doctorIn, "POST", "/api/v1/invites", person(map[string]any{"language": lang}))
		require.Equal(t, 400, res.status, lang)
		assert.Contains(t, string(res.body), "language", lang)
		assert.Contains(t, string(res.body), "fr, de", lang)
	}

	id := created.Invite.ConsultationID
	guest := map[string]any{"role": "guest", "first_name": "Grace", "last_name": "Hopper", "email": "grace@example.org"}
	guest["language"] = "en"
	res = e.do(f.doctorIn, "POST", "/api/v1/consultations/"+id+"/invites", guest)
	require.Equal(t, 400, res.status, string(res.body))
	assert.Contains(t, string(res.body), "language")
	delete(guest, "language")
	res = e.do(f.doctorIn, "POST", "/api/v1/consultations/"+id+"/invites", guest)
	require.Equal(t, 201, res.status, string(res.body))
	assert.Equal(t, "fr", language(res.body))

	// An interpreter's language is the one they interpret: any tag.
	interpreter := map[string]any{"role": "interpreter", "first_name": "Tesfay", "last_name": "Interpreter", "email": "tesfay@example.org", "language": "ti"}
	res = e.do(f.doctorIn, "POST", "/api/v1/consultations/"+id+"/invites", interpreter)
	require.Equal(t, 201, res.status, string(res.body))
	assert.Equal(t, "ti", language(res.body))
}
