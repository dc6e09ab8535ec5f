package signin_test

import (
	"testing"
	"time"

	vw "github.com/descope/virtualwebauthn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/backend/internal/audit"
	"github.com/hcw-home/hcw/backend/internal/sealed"
	"github.com/hcw-home/hcw/backend/internal/signin"
	"github.com/hcw-home/hcw/backend/internal/signin/passkeytest"
)

// passkeyService is e's service with passkeys on for the staff hosts.
func passkeyService(t *testing.T, e *env) *signin.Service {
	t.Helper()
	key, err := sealed.ParseKey("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8")
	require.NoError(t, err)
	ring, err := sealed.NewKeyring(key)
	require.NoError(t, err)
	svc, err := signin.New(signin.Params{Pool: e.pool, Accounts: e.accounts, Audit: audit.NewStore(e.pool),
		Keyring: ring, Now: e.clock.Now, PasskeyHosts: []string{"Doctor.Example.org", "admin.example.org"}})
	require.NoError(t, err)
	return svc
}

func attestation(t *testing.T, svc *signin.Service, tok, host string, rp vw.RelyingParty, cred vw.Credential) []byte {
	t.Helper()
	opts, err := svc.BeginPasskeyRegistration(t.Context(), tok, host)
	require.NoError(t, err)
	parsed, err := vw.ParseAttestationOptions(string(opts))
	require.NoError(t, err)
	return []byte(vw.CreateAttestationResponse(rp, vw.NewAuthenticator(), cred, *parsed))
}

func TestPasskeyHostIsTheRelyingParty(t *testing.T) {
	e := newEnv(t)
	svc := passkeyService(t, e)
	ctx := t.Context()
	nurse := e.user("nurse@example.org", signin.RoleNurse)
	tok := e.signIn("nurse@example.org").Token

	for _, h := range []string{"patient.example.org", "", "example.org", "evil.doctor.example.org", "[::1]:443"} {
		_, err := svc.BeginPasskeyRegistration(ctx, tok, h)
		assert.ErrorIs(t, err, signin.ErrPasskeyHost, h)
	}

	// A non-default port stays in the origin; the RP ID is the bare host.
	cred := passkeytest.Credential()
	rp := vw.RelyingParty{ID: "doctor.example.org", Origin: "https://doctor.example.org:8443"}
	att := attestation(t, svc, tok, "DOCTOR.example.org:8443", rp, cred)
	res, err := svc.FinishPasskeyRegistration(ctx, tok, "doctor.example.org:8443", "key", att, ip1)
	require.NoError(t, err)
	assert.Len(t, res.RecoveryCodes, signin.RecoveryCodeCount)
	assert.Empty(t, res.Token, "a full session stays as it is")

	// A ceremony begun on one host does not finish on the other.
	other := passkeytest.Credential()
	att = attestation(t, svc, tok, "doctor.example.org", vw.RelyingParty{ID: "doctor.example.org", Origin: "https://doctor.example.org"}, other)
	_, err = svc.FinishPasskeyRegistration(ctx, tok, "admin.example.org", "key", att, ip1)
	assert.ErrorIs(t, err, signin.ErrInvalidPasskey)

	list, err := svc.ListPasskeys(ctx, nurse.ID)
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, res.Passkey.ID, list[0].ID)
}

func TestPasskeyCeremonyExpires(t *testing.T) {
	e := newEnv(t)
	svc := passkeyService(t, e)
	ctx := t.Context()
	u := e.user("doctor@example.org", signin.RoleDoctor)
	res := e.signIn("doctor@example.org")
	require.Equal(t, signin.NextEnrol, res.Next)

	rp := vw.RelyingParty{ID: "doctor.example.org", Origin: "https://doctor.example.org"}
	att := attestation(t, svc, res.Token, "doctor.example.org", rp, passkeytest.Credential())
	e.clock.Add(signin.CeremonyTTL)
	_, err := svc.FinishPasskeyRegistration(ctx, res.Token, "doctor.example.org", "key", att, ip1)
	assert.ErrorIs(t, err, signin.ErrNoPendingCeremony)

	has, err := svc.HasSecondFactor(ctx, u.ID)
	require.NoError(t, err)
	assert.False(t, has)
	cred := passkeytest.Credential()
	att = attestation(t, svc, res.Token, "doctor.example.org", rp, cred)
	e.clock.Add(signin.CeremonyTTL - time.Second)
	out, err := svc.FinishPasskeyRegistration(ctx, res.Token, "doctor.example.org", "key", att, ip1)
	require.NoError(t, err)
	assert.Equal(t, signin.LevelFull, out.Session.Level)
	has, err = svc.HasSecondFactor(ctx, u.ID)
	require.NoError(t, err)
	assert.True(t, has, "a passkey is a second factor")

	// ResetFactor removes it.
	require.NoError(t, svc.ResetFactor(ctx, u.ID, u.ID))
	has, err = svc.HasSecondFactor(ctx, u.ID)
	require.NoError(t, err)
	assert.False(t, has)
	list, err := svc.ListPasskeys(ctx, u.ID)
	require.NoError(t, err)
	assert.Empty(t, list)
}
