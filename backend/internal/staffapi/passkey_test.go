package staffapi_test

import (
	"encoding/base64"
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	vw "github.com/descope/virtualwebauthn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/backend/internal/account"
	"github.com/hcw-home/hcw/backend/internal/httpapi"
	"github.com/hcw-home/hcw/backend/internal/signin/passkeytest"
	"github.com/hcw-home/hcw/backend/internal/staffapi"
)

// softKey is a software authenticator holding one credential, talking to
// the relying party rp (the app host it believes it is on).
type softKey struct {
	rp   vw.RelyingParty
	auth vw.Authenticator
	cred vw.Credential
}

func newSoftKey() *softKey {
	return &softKey{
		rp:   vw.RelyingParty{Name: "HCW@Home", ID: host, Origin: "https://" + host},
		auth: vw.NewAuthenticator(),
		cred: passkeytest.Credential(),
	}
}

// attest asks for registration options and answers them.
func (k *softKey) attest(e *env, c *caller) json.RawMessage {
	e.t.Helper()
	res := e.do(c, "POST", "/api/v1/auth/passkeys/registration/options", nil)
	require.Equal(e.t, 200, res.status, string(res.body))
	opts, err := vw.ParseAttestationOptions(string(res.body))
	require.NoError(e.t, err)
	assert.Equal(e.t, host, opts.RelyingPartyID, "the RP ID is the app's host")
	return json.RawMessage(vw.CreateAttestationResponse(k.rp, k.auth, k.cred, *opts))
}

// register adds the key's credential under name and returns the answer.
func (k *softKey) register(e *env, c *caller, name string) response {
	e.t.Helper()
	return e.do(c, "POST", "/api/v1/auth/passkeys/registration", map[string]any{"name": name, "credential": k.attest(e, c)})
}

// assert asks for login options and answers them.
func (k *softKey) assert(e *env, c *caller) json.RawMessage {
	e.t.Helper()
	res := e.do(c, "POST", "/api/v1/auth/passkeys/login/options", nil)
	require.Equal(e.t, 200, res.status, string(res.body))
	opts, err := vw.ParseAssertionOptions(string(res.body))
	require.NoError(e.t, err)
	return json.RawMessage(vw.CreateAssertionResponse(k.rp, k.auth, k.cred, *opts))
}

func (k *softKey) login(e *env, c *caller) response {
	e.t.Helper()
	return e.do(c, "POST", "/api/v1/auth/passkeys/login", map[string]any{"credential": k.assert(e, c)})
}

// passwordStep signs u in with the password only.
func (e *env) passwordStep(u account.User) (*caller, string) {
	e.t.Helper()
	c := &caller{}
	res := e.do(c, "POST", "/api/v1/auth/sign-in", map[string]string{"email": u.Email, "password": "a long test passphrase"})
	require.Equal(e.t, 200, res.status, string(res.body))
	var sess struct{ Level, Next string }
	res.json(e.t, &sess)
	return c, sess.Next
}

// enrolPasskey signs u in and enrols key as their first factor.
func (e *env) enrolPasskey(u account.User, key *softKey) *caller {
	e.t.Helper()
	c, next := e.passwordStep(u)
	require.Equal(e.t, "enrol", next)
	res := key.register(e, c, "work laptop")
	require.Equal(e.t, 201, res.status, string(res.body))
	return c
}

type enrolled struct {
	Passkey struct {
		ID, Name string
	}
	Session *struct {
		Level string
	}
	RecoveryCodes []string `json:"recovery_codes"`
}

func TestPasskeyEnrolmentThenSignIn(t *testing.T) {
	e := newEnv(t)
	doc := e.user(account.RoleDoctor, "doctor@example.org")
	key := newSoftKey()

	c, next := e.passwordStep(doc)
	require.Equal(t, "enrol", next)
	assert.Equal(t, 403, e.do(c, "GET", "/api/v1/me/passkeys", nil).status, "a password-level session lists nothing")
	res := key.register(e, c, "  work laptop ")
	require.Equal(t, 201, res.status, string(res.body))
	var out enrolled
	res.json(t, &out)
	require.NotNil(t, out.Session, "the enrolment completes the sign-in")
	assert.Equal(t, "full", out.Session.Level)
	assert.Len(t, out.RecoveryCodes, 10)
	assert.Equal(t, "work laptop", out.Passkey.Name)
	assert.Equal(t, base64.RawURLEncoding.EncodeToString(key.cred.ID), out.Passkey.ID)
	assert.Equal(t, 200, e.do(c, "GET", "/api/v1/me", nil).status)

	// A second passkey on the full session: no new session, no new codes.
	second := newSoftKey()
	res = second.register(e, c, "phone")
	require.Equal(t, 201, res.status, string(res.body))
	var out2 enrolled
	res.json(t, &out2)
	assert.Nil(t, out2.Session)
	assert.Empty(t, out2.RecoveryCodes)

	// The next sign-in owes the factor, and a passkey pays it.
	c2, next := e.passwordStep(doc)
	require.Equal(t, "verify", next)
	res = e.do(c2, "POST", "/api/v1/auth/passkeys/registration/options", nil)
	assert.Equal(t, 409, res.status, "an enrolled user cannot add a passkey before the second step")
	res = key.login(e, c2)
	require.Equal(t, 200, res.status, string(res.body))
	assert.Contains(t, string(res.body), `"level":"full"`)
	assert.Equal(t, 200, e.do(c2, "GET", "/api/v1/me", nil).status)
	res = e.do(c2, "POST", "/api/v1/auth/passkeys/login/options", nil)
	assert.Equal(t, 409, res.status, "a full session has no second step left")

	res = e.do(c2, "GET", "/api/v1/me/passkeys", nil)
	require.Equal(t, 200, res.status)
	var list struct {
		Passkeys []struct {
			ID, Name   string
			LastUsedAt *string `json:"last_used_at"`
		}
	}
	res.json(t, &list)
	require.Len(t, list.Passkeys, 2)
	assert.Equal(t, "work laptop", list.Passkeys[0].Name)
	assert.NotNil(t, list.Passkeys[0].LastUsedAt)
	assert.Nil(t, list.Passkeys[1].LastUsedAt)

	// The recovery codes of the passkey enrolment work as the second step.
	c3, _ := e.passwordStep(doc)
	res = e.do(c3, "POST", "/api/v1/auth/second-factor", map[string]string{"code": out.RecoveryCodes[0]})
	assert.Equal(t, 200, res.status, string(res.body))
}

func TestPasskeyRefusals(t *testing.T) {
	e := newEnv(t)
	n := 0
	// fresh is a new doctor enrolled with a new passkey: the throttle of
	// one subtest's failures does not spill into the next.
	fresh := func() (account.User, *softKey) {
		n++
		u := e.user(account.RoleDoctor, "doctor"+strconv.Itoa(n)+"@example.org")
		k := newSoftKey()
		e.enrolPasskey(u, k)
		return u, k
	}
	variant := func(k *softKey, mut func(k *softKey)) *softKey {
		v := *k
		mut(&v)
		return &v
	}
	cases := []struct {
		name string
		mut  func(k *softKey)
	}{
		{"wrong origin", func(k *softKey) { k.rp.Origin = "https://evil.example.org" }},
		{"other app's origin", func(k *softKey) { k.rp.Origin = "https://admin.example.org" }},
		{"wrong RP ID", func(k *softKey) { k.rp.ID = "example.org" }},
		{"unregistered credential", func(k *softKey) { k.cred = passkeytest.Credential() }},
		{"other key, same credential id", func(k *softKey) {
			id := k.cred.ID
			k.cred = passkeytest.Credential()
			k.cred.ID = id
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc, key := fresh()
			c, next := e.passwordStep(doc)
			require.Equal(t, "verify", next)
			res := variant(key, tc.mut).login(e, c)
			assert.Equal(t, 401, res.status, string(res.body))
			assert.Equal(t, staffapi.CodeInvalidPasskey, res.code(t))
			assert.Equal(t, 403, e.do(c, "GET", "/api/v1/me", nil).status, "still password-level")
			assert.Equal(t, 200, key.login(e, c).status, "the right passkey still works")
		})
	}

	t.Run("a challenge is answered once", func(t *testing.T) {
		doc, key := fresh()
		c, _ := e.passwordStep(doc)
		older := key.assert(e, c)
		opts := e.do(c, "POST", "/api/v1/auth/passkeys/login/options", nil)
		require.Equal(t, 200, opts.status)
		o, err := vw.ParseAssertionOptions(string(opts.body))
		require.NoError(t, err)
		// A wrong answer spends the challenge ...
		bad := variant(key, func(k *softKey) { k.rp.Origin = "https://evil.example.org" })
		res := e.do(c, "POST", "/api/v1/auth/passkeys/login", map[string]any{"credential": json.RawMessage(vw.CreateAssertionResponse(bad.rp, bad.auth, bad.cred, *o))})
		require.Equal(t, 401, res.status)
		// ... so the right answer to the same challenge finds none pending,
		res = e.do(c, "POST", "/api/v1/auth/passkeys/login", map[string]any{"credential": json.RawMessage(vw.CreateAssertionResponse(key.rp, key.auth, key.cred, *o))})
		assert.Equal(t, 409, res.status, string(res.body))
		// and an answer to an older challenge does not fit a new one.
		key.assert(e, c) // new options, answer discarded
		res = e.do(c, "POST", "/api/v1/auth/passkeys/login", map[string]any{"credential": older})
		assert.Equal(t, 401, res.status, string(res.body))
	})

	t.Run("replayed after success", func(t *testing.T) {
		doc, key := fresh()
		c, _ := e.passwordStep(doc)
		resp := key.assert(e, c)
		old := *c
		res := e.do(c, "POST", "/api/v1/auth/passkeys/login", map[string]any{"credential": resp})
		require.Equal(t, 200, res.status, string(res.body))
		res = e.do(&old, "POST", "/api/v1/auth/passkeys/login", map[string]any{"credential": resp})
		assert.Equal(t, 401, res.status, "the old token was rotated away")
		c2, _ := e.passwordStep(doc)
		e.do(c2, "POST", "/api/v1/auth/passkeys/login/options", nil)
		res = e.do(c2, "POST", "/api/v1/auth/passkeys/login", map[string]any{"credential": resp})
		assert.Equal(t, 401, res.status, string(res.body))
	})

	t.Run("signature counter", func(t *testing.T) {
		doc, key := fresh()
		key.cred.Counter = 5
		c, _ := e.passwordStep(doc)
		require.Equal(t, 200, key.login(e, c).status)
		key.cred.Counter = 5 // did not grow: a clone may be in use
		c, _ = e.passwordStep(doc)
		assert.Equal(t, 401, key.login(e, c).status)
		key.cred.Counter = 3 // went backwards
		assert.Equal(t, 401, key.login(e, c).status)
		key.cred.Counter = 6
		assert.Equal(t, 200, key.login(e, c).status)
	})

	t.Run("throttled like codes", func(t *testing.T) {
		doc, key := fresh()
		c, _ := e.passwordStep(doc)
		bad := variant(key, func(k *softKey) { k.rp.Origin = "https://evil.example.org" })
		for range 5 {
			require.Equal(t, 401, bad.login(e, c).status)
		}
		res := key.login(e, c)
		assert.Equal(t, 429, res.status, string(res.body))
		assert.NotEmpty(t, res.header.Get("Retry-After"))
	})
}

func TestPasskeyOnlyOnStaffHosts(t *testing.T) {
	e := newEnv(t)
	nurse := e.signIn(e.user(account.RoleNurse, "nurse@example.org"))
	res := e.doAt("patient.example.org", &caller{cookie: nurse.cookie}, "POST", "/api/v1/auth/passkeys/registration/options", nil)
	assert.Equal(t, 403, res.status, string(res.body))
	assert.Equal(t, staffapi.CodePasskeyHost, res.code(t))

	// On the admin host the RP ID is the admin host; a passkey made for the
	// doctor host does not register there.
	key := newSoftKey()
	c := &caller{cookie: nurse.cookie}
	res = e.doAt("admin.example.org", c, "POST", "/api/v1/auth/passkeys/registration/options", nil)
	require.Equal(t, 200, res.status, string(res.body))
	opts, err := vw.ParseAttestationOptions(string(res.body))
	require.NoError(t, err)
	assert.Equal(t, "admin.example.org", opts.RelyingPartyID)
	att := vw.CreateAttestationResponse(key.rp, key.auth, key.cred, *opts)
	res = e.doAt("admin.example.org", c, "POST", "/api/v1/auth/passkeys/registration", map[string]any{"name": "x", "credential": json.RawMessage(att)})
	assert.Equal(t, 401, res.status, string(res.body))
}

func TestDeletePasskey(t *testing.T) {
	e := newEnv(t)
	doc := e.user(account.RoleDoctor, "doctor@example.org")
	first, second := newSoftKey(), newSoftKey()
	c := e.enrolPasskey(doc, first)
	firstID := base64.RawURLEncoding.EncodeToString(first.cred.ID)

	res := e.do(c, "POST", "/api/v1/me/passkeys/"+firstID+"/delete", nil)
	assert.Equal(t, 409, res.status, string(res.body))
	assert.Equal(t, staffapi.CodeLastFactor, res.code(t))

	require.Equal(t, 201, second.register(e, c, "phone").status)
	assert.Equal(t, 204, e.do(c, "POST", "/api/v1/me/passkeys/"+firstID+"/delete", nil).status)
	assert.Equal(t, 404, e.do(c, "POST", "/api/v1/me/passkeys/"+firstID+"/delete", nil).status)
	assert.Equal(t, 404, e.do(c, "POST", "/api/v1/me/passkeys/not%20base64/delete", nil).status)

	// The removed passkey no longer signs in; the other does.
	c2, _ := e.passwordStep(doc)
	assert.Equal(t, 401, first.login(e, c2).status)
	c2, _ = e.passwordStep(doc)
	assert.Equal(t, 200, second.login(e, c2).status)

	// Another user's passkey is not found.
	other := e.user(account.RoleDoctor, "other@example.org")
	oc := e.enrolPasskey(other, newSoftKey())
	secondID := base64.RawURLEncoding.EncodeToString(second.cred.ID)
	assert.Equal(t, 404, e.do(oc, "POST", "/api/v1/me/passkeys/"+secondID+"/delete", nil).status)

	// A nurse may remove her only factor.
	nurse := e.user(account.RoleNurse, "nurse@example.org")
	nc, next := e.passwordStep(nurse)
	require.Empty(t, next, "a nurse without a factor is signed in at once")
	nk := newSoftKey()
	res = nk.register(e, nc, "key")
	require.Equal(t, 201, res.status, string(res.body))
	var out enrolled
	res.json(t, &out)
	assert.Len(t, out.RecoveryCodes, 10, "a first factor comes with recovery codes")
	_, next = e.passwordStep(nurse)
	assert.Equal(t, "verify", next)
	assert.Equal(t, 204, e.do(nc, "POST", "/api/v1/me/passkeys/"+base64.RawURLEncoding.EncodeToString(nk.cred.ID)+"/delete", nil).status)
	_, next = e.passwordStep(nurse)
	assert.Empty(t, next)
}

func TestResetFactorRemovesPasskeys(t *testing.T) {
	e := newEnv(t)
	admin := e.signIn(e.user(account.RoleAdmin, "admin@example.org"))
	doc := e.user(account.RoleDoctor, "doctor@example.org")
	key := newSoftKey()
	c := e.enrolPasskey(doc, key)
	res := e.do(&admin.caller, "POST", "/api/v1/admin/users/"+doc.ID+"/second-factor-reset", nil)
	require.Equal(t, 204, res.status, string(res.body))
	assert.Equal(t, 401, e.do(c, "GET", "/api/v1/me", nil).status)

	c, next := e.passwordStep(doc)
	assert.Equal(t, "enrol", next, "the passkey went with the reset")
	res = e.do(c, "POST", "/api/v1/auth/passkeys/login/options", nil)
	assert.Equal(t, 409, res.status)
	// The same authenticator can enrol again.
	res = key.register(e, c, "again")
	assert.Equal(t, 201, res.status, string(res.body))
}

// TestPasskeyGarbage sends malformed credentials: each gets a 4xx in the
// API's error shape, never a 5xx or a panic.
func TestPasskeyGarbage(t *testing.T) {
	e := newEnv(t)
	nurse := e.signIn(e.user(account.RoleNurse, "nurse@example.org"))
	doc := e.user(account.RoleDoctor, "doctor@example.org")
	e.enrolPasskey(doc, newSoftKey())

	garbage := []string{
		`"x"`, `1`, `[]`, `{}`, `{"id":1}`, `{"type":"public-key"}`,
		`{"type":"public-key","id":"AA","rawId":"AA","response":{}}`,
		`{"type":"public-key","id":"AA","rawId":"AA","response":{"clientDataJSON":"!!!","attestationObject":"AA"}}`,
		`{"type":"public-key","id":"AA","rawId":"AA","response":{"clientDataJSON":"e30","attestationObject":"oA","authenticatorData":"AA","signature":"AA"}}`,
		`{"type":"public-key","id":"` + strings.Repeat("A", 2000) + `","rawId":"AA","response":{"clientDataJSON":"e30"}}`,
		strings.Repeat("[", 5000) + strings.Repeat("]", 5000),
	}
	check := func(t *testing.T, res response, raw string) {
		t.Helper()
		assert.True(t, res.status >= 400 && res.status < 500, "status %d for %.80q: %s", res.status, raw, res.body)
		var shape struct {
			Error struct{ Code, Message string }
		}
		require.NoError(t, json.Unmarshal(res.body, &shape), string(res.body))
		assert.NotEmpty(t, shape.Error.Code)
	}
	for i, g := range garbage {
		reg := []byte(`{"name":"k","credential":` + g + `}`)
		res := e.do(&caller{cookie: nurse.cookie}, "POST", "/api/v1/auth/passkeys/registration", reg)
		check(t, res, g)
		if len(reg) <= 16<<10 {
			assert.Equal(t, 400, res.status, "case %d: %s", i, res.body)
			assert.Contains(t, string(res.body), `"field":"credential"`)
		}
		c, _ := e.passwordStep(doc)
		res = e.do(c, "POST", "/api/v1/auth/passkeys/login", []byte(`{"credential":`+g+`}`))
		check(t, res, g)
	}
	big := []byte(`{"name":"k","credential":{"id":"` + strings.Repeat("A", 17<<10) + `"}}`)
	res := e.do(&caller{cookie: nurse.cookie}, "POST", "/api/v1/auth/passkeys/registration", big)
	assert.Equal(t, 413, res.status)
	assert.Equal(t, httpapi.CodeBodyTooLarge, res.code(t))

	// Random mutations of a well-formed attestation.
	key := newSoftKey()
	rng := rand.New(rand.NewPCG(1, 2))
	for range 40 {
		c := &caller{cookie: nurse.cookie}
		att := []byte(key.attest(e, c))
		for range 1 + rng.IntN(4) {
			att[rng.IntN(len(att))] = byte(rng.IntN(256))
		}
		res := e.do(c, "POST", "/api/v1/auth/passkeys/registration", []byte(`{"name":"k","credential":`+string(att)+`}`))
		if res.status == 201 {
			continue // the mutation hit something harmless
		}
		check(t, res, string(att))
	}
}
