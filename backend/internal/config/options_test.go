package config_test

import (
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/backend/internal/config"
)

// testDataKey is a valid data key; every environment gets it unless the
// test sets HCW_DATA_KEY or HCW_DATA_KEY_FILE itself (even to "").
const testDataKey = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"

// testGrantKey is a valid grant signing key (PKCS#8 PEM of an Ed25519 key
// with an all-zero seed).
const testGrantKey = `-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
-----END PRIVATE KEY-----
`

// required are the required secrets every environment gets, like the data
// key, unless the test sets the variable or its _FILE variant itself.
var required = map[string]string{
	"HCW_DATA_KEY":          testDataKey,
	"HCW_MEDIA_NODE_SECRET": "a-node-secret-of-some-length",
	"HCW_GRANT_SIGNING_KEY": testGrantKey,
	"HCW_TURN_SECRET":       "a-turn-secret-of-some-length",
}

func env(m map[string]string) config.LookupFunc {
	return func(k string) (string, bool) {
		v, ok := m[k]
		if def, isRequired := required[k]; isRequired && !ok {
			if _, hasFile := m[k+"_FILE"]; !hasFile {
				return def, true
			}
		}
		return v, ok
	}
}

func TestDefaults(t *testing.T) {
	o, err := config.Parse(env(nil))
	require.NoError(t, err)
	assert.Equal(t, ":8080", o.HTTPListen)
	assert.Equal(t, "8080", o.HTTPPort)
	assert.Equal(t, "postgres", o.Database.ConnConfig.Host)
	assert.Equal(t, uint16(5432), o.Database.ConnConfig.Port)
	assert.Equal(t, "hcw", o.Database.ConnConfig.Database)
	assert.Equal(t, "hcw", o.Database.ConnConfig.User)
	assert.Nil(t, o.Database.ConnConfig.TLSConfig, "sslmode=disable")
	assert.Equal(t, int32(config.DefaultDBMaxConns()), o.Database.MaxConns)
	assert.GreaterOrEqual(t, o.Database.MaxConns, int32(4))
	assert.Equal(t, 5*time.Second, o.DBConnectTimeout)
	assert.Equal(t, 5*time.Second, o.Database.ConnConfig.ConnectTimeout)
	assert.Equal(t, "localhost", o.Domain)
	assert.Equal(t, []string{"doctor.localhost", "patient.localhost", "admin.localhost"}, o.AppHosts())
	assert.Equal(t, []string{"edge"}, o.EdgeHostNames)
	assert.Empty(t, o.EdgePrefixes)
	assert.Equal(t, slog.LevelInfo, o.LogLevel)
	assert.Equal(t, 15*time.Second, o.ShutdownTimeout)
	assert.Equal(t, 365, o.AuditRetentionDays)
}

func TestValues(t *testing.T) {
	o, err := config.Parse(env(map[string]string{
		"HCW_HTTP_LISTEN":        "127.0.0.1:9000",
		"HCW_DB_HOST":            "db.internal",
		"HCW_DB_PORT":            "6543",
		"HCW_DB_PASSWORD":        "p@ss/w:rd%?#",
		"HCW_DB_SSLMODE":         "require",
		"HCW_DB_MAX_CONNS":       "7",
		"HCW_DB_CONNECT_TIMEOUT": "2s",
		"HCW_DOMAIN":             "example.org",
		"HCW_PATIENT_HOST":       "Consult.Example.org",
		"HCW_EDGE_PROXIES":       "10.0.0.0/8, 192.168.1.5 edge.local,::1",
		"HCW_LOG_LEVEL":          "DEBUG",
		"HCW_SHUTDOWN_TIMEOUT":   "1m",
	}))
	require.NoError(t, err)
	assert.Equal(t, "9000", o.HTTPPort)
	assert.Equal(t, "db.internal", o.Database.ConnConfig.Host)
	assert.Equal(t, uint16(6543), o.Database.ConnConfig.Port)
	assert.Equal(t, "p@ss/w:rd%?#", o.Database.ConnConfig.Password, "password escaped in the URL and decoded back")
	assert.NotNil(t, o.Database.ConnConfig.TLSConfig)
	assert.Equal(t, int32(7), o.Database.MaxConns)
	assert.Equal(t, 2*time.Second, o.Database.ConnConfig.ConnectTimeout)
	assert.Equal(t, []string{"doctor.example.org", "consult.example.org", "admin.example.org"}, o.AppHosts())
	require.Len(t, o.EdgePrefixes, 3)
	assert.Equal(t, "10.0.0.0/8", o.EdgePrefixes[0].String())
	assert.Equal(t, "192.168.1.5/32", o.EdgePrefixes[1].String())
	assert.Equal(t, "::1/128", o.EdgePrefixes[2].String())
	assert.Equal(t, []string{"edge.local"}, o.EdgeHostNames)
	assert.Equal(t, slog.LevelDebug, o.LogLevel)
	assert.Equal(t, time.Minute, o.ShutdownTimeout)
}

func TestAuditRetentionDays(t *testing.T) {
	for _, days := range []int{30, 365, 36500} {
		o, err := config.Parse(env(map[string]string{"HCW_AUDIT_RETENTION_DAYS": strconv.Itoa(days)}))
		require.NoError(t, err)
		assert.Equal(t, days, o.AuditRetentionDays)
	}
	_, err := config.Parse(env(map[string]string{"HCW_AUDIT_RETENTION_DAYS": "29"}))
	require.ErrorIs(t, err, config.ErrInvalid)
	assert.Equal(t, "HCW_AUDIT_RETENTION_DAYS: 29 is not between 30 and 36500 days", err.Error())
}

func TestDatabaseURLWins(t *testing.T) {
	o, err := config.Parse(env(map[string]string{
		"HCW_DATABASE_URL": "postgres://u:secret@h:1234/d?sslmode=disable",
		"HCW_DB_HOST":      "ignored",
		"HCW_DB_MAX_CONNS": "3",
	}))
	require.NoError(t, err)
	assert.Equal(t, "h", o.Database.ConnConfig.Host)
	assert.Equal(t, "secret", o.Database.ConnConfig.Password)
	assert.Equal(t, int32(3), o.Database.MaxConns)
}

func TestFileVariants(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	require.NoError(t, os.WriteFile(pw, []byte("from-file\n"), 0o600))
	o, err := config.Parse(env(map[string]string{"HCW_DB_PASSWORD_FILE": pw}))
	require.NoError(t, err)
	assert.Equal(t, "from-file", o.Database.ConnConfig.Password, "trailing newline trimmed")

	u := filepath.Join(dir, "url")
	require.NoError(t, os.WriteFile(u, []byte("postgres://a:b@dbhost/x\n"), 0o600))
	o, err = config.Parse(env(map[string]string{"HCW_DATABASE_URL_FILE": u}))
	require.NoError(t, err)
	assert.Equal(t, "dbhost", o.Database.ConnConfig.Host)
}

func TestInvalid(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	require.NoError(t, os.WriteFile(empty, []byte("\n"), 0o600))
	for _, tc := range []struct {
		name, key, value string
		extra            map[string]string
	}{
		{name: "max conns not a number", key: "HCW_DB_MAX_CONNS", value: "abc"},
		{name: "max conns zero", key: "HCW_DB_MAX_CONNS", value: "0"},
		{name: "max conns negative", key: "HCW_DB_MAX_CONNS", value: "-3"},
		{name: "connect timeout", key: "HCW_DB_CONNECT_TIMEOUT", value: "5"},
		{name: "shutdown timeout", key: "HCW_SHUTDOWN_TIMEOUT", value: "-1s"},
		{name: "listen no port", key: "HCW_HTTP_LISTEN", value: "localhost"},
		{name: "listen bad port", key: "HCW_HTTP_LISTEN", value: ":http"},
		{name: "db port", key: "HCW_DB_PORT", value: "70000"},
		{name: "db host", key: "HCW_DB_HOST", value: "db/evil"},
		{name: "sslmode", key: "HCW_DB_SSLMODE", value: "allow-all"},
		{name: "database url", key: "HCW_DATABASE_URL", value: "postgres://u:pw@h:notaport/db"},
		{name: "domain with scheme", key: "HCW_DOMAIN", value: "https://example.org"},
		{name: "doctor host with path", key: "HCW_DOCTOR_HOST", value: "doctor.example.org/app"},
		{name: "patient host with port", key: "HCW_PATIENT_HOST", value: "patient.example.org:443"},
		{name: "admin host underscore", key: "HCW_ADMIN_HOST", value: "ad_min.example.org"},
		{name: "edge bad cidr", key: "HCW_EDGE_PROXIES", value: "10.0.0.0/33"},
		{name: "edge junk", key: "HCW_EDGE_PROXIES", value: "edge, http://x"},
		{name: "log level", key: "HCW_LOG_LEVEL", value: "verbose"},
		{name: "audit retention not a number", key: "HCW_AUDIT_RETENTION_DAYS", value: "1y"},
		{name: "audit retention below minimum", key: "HCW_AUDIT_RETENTION_DAYS", value: "29"},
		{name: "audit retention zero", key: "HCW_AUDIT_RETENTION_DAYS", value: "0"},
		{name: "audit retention too long", key: "HCW_AUDIT_RETENTION_DAYS", value: "36501"},
		{name: "password file missing", key: "HCW_DB_PASSWORD_FILE", value: filepath.Join(dir, "nope")},
		{name: "password file empty", key: "HCW_DB_PASSWORD_FILE", value: empty},
		{name: "password and file", key: "HCW_DB_PASSWORD", value: "x", extra: map[string]string{"HCW_DB_PASSWORD_FILE": empty}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := map[string]string{tc.key: tc.value}
			for k, v := range tc.extra {
				m[k] = v
			}
			_, err := config.Parse(env(m))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.key)
			assert.NotContains(t, err.Error(), "\n", "one line")
		})
	}
}

func TestInvalidMessageIsExact(t *testing.T) {
	_, err := config.Parse(env(map[string]string{"HCW_DB_MAX_CONNS": "abc"}))
	require.ErrorIs(t, err, config.ErrInvalid)
	assert.Equal(t, `HCW_DB_MAX_CONNS: "abc" is not a positive integer`, err.Error())
}

func TestDatabaseURLNotEchoed(t *testing.T) {
	_, err := config.Parse(env(map[string]string{"HCW_DATABASE_URL": "postgres://u:topsecret@h:bad/db"}))
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "topsecret")
}

func TestListenPort(t *testing.T) {
	port, err := config.ListenPort(env(map[string]string{"HCW_DB_PASSWORD_FILE": "/nonexistent"}))
	require.NoError(t, err, "secrets are not read")
	assert.Equal(t, "8080", port)
	port, err = config.ListenPort(env(map[string]string{"HCW_HTTP_LISTEN": "0.0.0.0:9090"}))
	require.NoError(t, err)
	assert.Equal(t, "9090", port)
	_, err = config.ListenPort(env(map[string]string{"HCW_HTTP_LISTEN": "nope"}))
	require.ErrorContains(t, err, "HCW_HTTP_LISTEN")
}
