package consultationapi_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestParticipantSessionCookie: the cookie a redemption sets marks a
// participant session ("p."), which the staff session lookup refuses by
// its shape, before any query; a token handed out before the mark existed
// still works.
func TestParticipantSessionCookie(t *testing.T) {
	e := newEnv(t)
	f := e.clinic()
	_, patient := e.waitingConsultation(f)
	require.True(t, strings.HasPrefix(patient.cookie, "p."), "participant session cookie is marked")
	res := e.doAt(patientHost, patient, "GET", "/api/v1/participant/me", nil)
	require.Equal(t, 200, res.status, string(res.body))

	unmarked := &caller{cookie: strings.TrimPrefix(patient.cookie, "p.")}
	res = e.doAt(patientHost, unmarked, "GET", "/api/v1/participant/me", nil)
	require.Equal(t, 200, res.status, string(res.body))

	forged := &caller{cookie: "p." + strings.Repeat("A", 43)}
	res = e.doAt(patientHost, forged, "GET", "/api/v1/participant/me", nil)
	require.Equal(t, 401, res.status, string(res.body))
}
