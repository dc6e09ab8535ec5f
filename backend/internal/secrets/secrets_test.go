package secrets_test

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/backend/internal/secrets"
)

type dirs struct{ db, turn, backend, media string }

func setup(t *testing.T) (dirs, secrets.Params, *strings.Builder) {
	root := t.TempDir()
	d := dirs{filepath.Join(root, "db"), filepath.Join(root, "turn"), filepath.Join(root, "backend"), filepath.Join(root, "media")}
	var logs strings.Builder
	return d, secrets.Params{
		DBDir: d.db, TURNDir: d.turn, BackendDir: d.backend, MediaDir: d.media,
		// Our own ids: chown to them works without root.
		UID: os.Getuid(), GID: os.Getgid(),
		Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
	}, &logs
}

func (d dirs) files() []string {
	return []string{
		filepath.Join(d.db, secrets.DBPasswordFile),
		filepath.Join(d.turn, secrets.TURNSecretFile),
		filepath.Join(d.media, secrets.MediaNodeSecretFile),
		filepath.Join(d.backend, secrets.GrantKeyFile),
		filepath.Join(d.backend, secrets.GrantPublicKeyFile),
		filepath.Join(d.backend, secrets.SessionKeyFile),
		filepath.Join(d.backend, secrets.DataKeyFile),
	}
}

func snapshot(t *testing.T, d dirs) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, f := range d.files() {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		out[f] = b
	}
	return out
}

func TestInitCreatesKeepsAndRepairs(t *testing.T) {
	d, p, logs := setup(t)
	require.NoError(t, secrets.Init(p))
	first := snapshot(t, d)

	for _, f := range []string{
		filepath.Join(d.db, secrets.DBPasswordFile),
		filepath.Join(d.turn, secrets.TURNSecretFile),
		filepath.Join(d.media, secrets.MediaNodeSecretFile),
		filepath.Join(d.backend, secrets.SessionKeyFile),
		filepath.Join(d.backend, secrets.DataKeyFile),
	} {
		raw, err := base64.RawURLEncoding.DecodeString(string(first[f]))
		require.NoError(t, err, f)
		assert.Len(t, raw, 32, f)
	}
	for _, f := range d.files() {
		st, err := os.Stat(f)
		require.NoError(t, err)
		assert.Equal(t, fs.FileMode(0o440), st.Mode().Perm(), f)
	}
	for _, dir := range []string{d.db, d.turn, d.backend, d.media} {
		st, err := os.Stat(dir)
		require.NoError(t, err)
		assert.Equal(t, fs.FileMode(0o750), st.Mode().Perm(), dir)
		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		for _, e := range entries {
			assert.False(t, strings.Contains(e.Name(), ".tmp-"), "no temp files left: %s", e.Name())
		}
	}
	assert.Equal(t, 7, strings.Count(logs.String(), `"action":"created"`))
	for _, v := range first {
		assert.NotContains(t, logs.String(), string(v), "secret values never logged")
	}

	// Key pair: PKCS#8 private, PKIX public, and they match.
	priv := parsePrivate(t, first[filepath.Join(d.backend, secrets.GrantKeyFile)])
	pub := parsePublic(t, first[filepath.Join(d.backend, secrets.GrantPublicKeyFile)])
	assert.True(t, pub.Equal(priv.Public()))

	// Second run: byte-identical, everything kept.
	logs.Reset()
	require.NoError(t, secrets.Init(p))
	assert.Equal(t, first, snapshot(t, d))
	assert.Equal(t, 7, strings.Count(logs.String(), `"action":"kept"`))
	assert.NotContains(t, logs.String(), `"action":"created"`)

	// One file lost: only it is regenerated.
	lost := filepath.Join(d.backend, secrets.SessionKeyFile)
	require.NoError(t, os.Remove(lost))
	logs.Reset()
	require.NoError(t, secrets.Init(p))
	third := snapshot(t, d)
	for f, b := range first {
		if f == lost {
			assert.NotEqual(t, b, third[f], "regenerated")
		} else {
			assert.Equal(t, b, third[f], f)
		}
	}
	assert.Equal(t, 1, strings.Count(logs.String(), `"action":"created"`))

	// Public key lost: rebuilt from the private key, identical.
	pubPath := filepath.Join(d.backend, secrets.GrantPublicKeyFile)
	require.NoError(t, os.Remove(pubPath))
	require.NoError(t, secrets.Init(p))
	b, err := os.ReadFile(pubPath)
	require.NoError(t, err)
	assert.Equal(t, first[pubPath], b)
}

func TestInitRefusesOrphanPublicKey(t *testing.T) {
	d, p, _ := setup(t)
	require.NoError(t, secrets.Init(p))
	require.NoError(t, os.Remove(filepath.Join(d.backend, secrets.GrantKeyFile)))
	require.ErrorIs(t, secrets.Init(p), secrets.ErrOrphanPublicKey)
}

func TestInitReportsChownFailure(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root may chown to any id")
	}
	_, p, _ := setup(t)
	p.UID, p.GID = 65532, 65532
	err := secrets.Init(p)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "chown")
}

func TestInitChownsAsRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	d, p, _ := setup(t)
	p.UID, p.GID = secrets.DefaultUID, secrets.DefaultGID
	require.NoError(t, secrets.Init(p))
	for _, f := range append(d.files(), d.db, d.turn, d.backend, d.media) {
		assertOwner(t, f, secrets.DefaultUID, secrets.DefaultGID)
	}
}

func parsePrivate(t *testing.T, b []byte) ed25519.PrivateKey {
	t.Helper()
	block, _ := pem.Decode(b)
	require.NotNil(t, block)
	require.Equal(t, "PRIVATE KEY", block.Type)
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	require.NoError(t, err)
	ek, ok := k.(ed25519.PrivateKey)
	require.True(t, ok)
	return ek
}

func parsePublic(t *testing.T, b []byte) ed25519.PublicKey {
	t.Helper()
	block, _ := pem.Decode(b)
	require.NotNil(t, block)
	require.Equal(t, "PUBLIC KEY", block.Type)
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	require.NoError(t, err)
	ek, ok := k.(ed25519.PublicKey)
	require.True(t, ok)
	return ek
}

func TestInitWritesSuppliedSecrets(t *testing.T) {
	d, p, logs := setup(t)
	// First start generates everything.
	require.NoError(t, secrets.Init(p))
	generated := snapshot(t, d)

	// The operator then supplies a TURN secret and a signing key.
	_, key, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	p.Supplied = map[string][]byte{
		secrets.TURNSecretFile:      []byte("operator-chosen-turn-secret"),
		secrets.MediaNodeSecretFile: []byte("operator-chosen-node-secret"),
		secrets.GrantKeyFile:        keyPEM,
	}
	require.NoError(t, secrets.Init(p))
	now := snapshot(t, d)

	assert.Equal(t, "operator-chosen-turn-secret", string(now[filepath.Join(d.turn, secrets.TURNSecretFile)]))
	assert.Equal(t, "operator-chosen-node-secret", string(now[filepath.Join(d.media, secrets.MediaNodeSecretFile)]))
	assert.Equal(t, keyPEM, now[filepath.Join(d.backend, secrets.GrantKeyFile)])
	pubBlock, _ := pem.Decode(now[filepath.Join(d.backend, secrets.GrantPublicKeyFile)])
	require.NotNil(t, pubBlock)
	pub, err := x509.ParsePKIXPublicKey(pubBlock.Bytes)
	require.NoError(t, err)
	assert.True(t, key.Public().(ed25519.PublicKey).Equal(pub), "public key does not follow the supplied private key")
	// What was not supplied is kept as generated.
	for _, f := range []string{filepath.Join(d.db, secrets.DBPasswordFile), filepath.Join(d.backend, secrets.DataKeyFile)} {
		assert.Equal(t, generated[f], now[f], f)
	}
	info, err := os.Stat(filepath.Join(d.turn, secrets.TURNSecretFile))
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(secrets.FileMode), info.Mode().Perm())
	assert.NotContains(t, logs.String(), "operator-chosen-turn-secret")

	// Supplying the same values again changes nothing.
	require.NoError(t, secrets.Init(p))
	assert.Equal(t, now, snapshot(t, d))
}

func TestInitRefusesBadSuppliedSecrets(t *testing.T) {
	for name, tc := range map[string]struct {
		file, value, variable string
	}{
		"short turn secret":        {secrets.TURNSecretFile, "tiny-7x", "HCW_TURN_SECRET"},
		"short node secret":        {secrets.MediaNodeSecretFile, "tiny-7x", "HCW_MEDIA_NODE_SECRET"},
		"node secret with a space": {secrets.MediaNodeSecretFile, "a node secret with spaces", "HCW_MEDIA_NODE_SECRET"},
		"key not PEM":              {secrets.GrantKeyFile, "not a key at all, really", "HCW_GRANT_SIGNING_KEY"},
		"data key not 32 bytes":    {secrets.DataKeyFile, "a-passphrase-is-not-a-key", "HCW_DATA_KEY"},
		"session key not 32 bytes": {secrets.SessionKeyFile, "c2l4dGVlbiBieXRlIGtleQ", "HCW_SESSION_KEY"},
	} {
		t.Run(name, func(t *testing.T) {
			d, p, _ := setup(t)
			p.Supplied = map[string][]byte{tc.file: []byte(tc.value)}
			err := secrets.Init(p)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.variable)
			assert.NotContains(t, err.Error(), tc.value)
			// Nothing is written before the check.
			_, statErr := os.Stat(filepath.Join(d.turn, secrets.TURNSecretFile))
			assert.ErrorIs(t, statErr, fs.ErrNotExist)
		})
	}
}

func TestInitNeedsTheMediaDirectory(t *testing.T) {
	_, p, _ := setup(t)
	p.MediaDir = ""
	err := secrets.Init(p)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "every directory must be given")
}
