package config_test

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/backend/internal/config"
	"github.com/hcw-home/hcw/backend/internal/sealed"
)

func TestDataKey(t *testing.T) {
	raw := bytes.Repeat([]byte{0xfb}, 32)
	encoded := base64.RawURLEncoding.EncodeToString(raw) // as secrets init writes it
	want, err := sealed.ParseKey(encoded)
	require.NoError(t, err)

	_, err = config.Parse(env(map[string]string{"HCW_DATA_KEY": ""}))
	require.Error(t, err, "the data key is required")
	assert.Contains(t, err.Error(), "HCW_DATA_KEY")

	o, err := config.Parse(env(nil))
	require.NoError(t, err)
	require.NotNil(t, o.DataKey)

	o, err = config.Parse(env(map[string]string{"HCW_DATA_KEY": encoded}))
	require.NoError(t, err)
	require.NotNil(t, o.DataKey)
	assert.Equal(t, want.ID(), o.DataKey.ID())

	dir := t.TempDir()
	file := filepath.Join(dir, "data_key")
	require.NoError(t, os.WriteFile(file, []byte(encoded), 0o440))
	o, err = config.Parse(env(map[string]string{"HCW_DATA_KEY_FILE": file}))
	require.NoError(t, err)
	require.NotNil(t, o.DataKey)
	assert.Equal(t, want.ID(), o.DataKey.ID())

	padded := base64.URLEncoding.EncodeToString(raw) + "\n"
	o, err = config.Parse(env(map[string]string{"HCW_DATA_KEY": padded}))
	require.NoError(t, err)
	assert.Equal(t, want.ID(), o.DataKey.ID())
}

func TestDataKeyInvalid(t *testing.T) {
	dir := t.TempDir()
	short := base64.RawURLEncoding.EncodeToString([]byte("sixteen byte key"))
	shortFile := filepath.Join(dir, "short")
	require.NoError(t, os.WriteFile(shortFile, []byte(short+"\n"), 0o440))
	for _, tc := range []struct {
		name, variable, secret string
		env                    map[string]string
	}{
		{"too short", "HCW_DATA_KEY", short, map[string]string{"HCW_DATA_KEY": short}},
		{"too long", "HCW_DATA_KEY", strings.Repeat("A", 64), map[string]string{"HCW_DATA_KEY": strings.Repeat("A", 64)}},
		{"passphrase", "HCW_DATA_KEY", "correct horse battery staple", map[string]string{"HCW_DATA_KEY": "correct horse battery staple"}},
		{"standard base64", "HCW_DATA_KEY", "+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/8", map[string]string{"HCW_DATA_KEY": "+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/8"}},
		{"file too short", "HCW_DATA_KEY_FILE", short, map[string]string{"HCW_DATA_KEY_FILE": shortFile}},
		{"both", "HCW_DATA_KEY", short, map[string]string{"HCW_DATA_KEY": short, "HCW_DATA_KEY_FILE": shortFile}},
		{"file missing", "HCW_DATA_KEY_FILE", "", map[string]string{"HCW_DATA_KEY_FILE": filepath.Join(dir, "nope")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Parse(env(tc.env))
			require.Error(t, err)
			msg := err.Error()
			assert.True(t, strings.HasPrefix(msg, tc.variable+":") || strings.HasPrefix(msg, tc.variable+" "), msg)
			assert.NotContains(t, msg, "\n", "one line")
			if tc.secret != "" {
				assert.NotContains(t, msg, tc.secret, "the value is not echoed")
			}
		})
	}
	_, err := config.Parse(env(map[string]string{"HCW_DATA_KEY_FILE": shortFile}))
	require.ErrorIs(t, err, config.ErrInvalid)
	assert.Equal(t, "HCW_DATA_KEY_FILE: invalid data key: decodes to 16 bytes, want 32 (base64url, as in the generated data_key file)", err.Error())
}
