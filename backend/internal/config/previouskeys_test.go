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

// encodedKey returns a key of 32 bytes b, as `secrets init` writes it.
func encodedKey(b byte) string {
	return base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{b}, sealed.KeySize))
}

func keyIDs(keys []*sealed.Key) []sealed.KeyID {
	ids := make([]sealed.KeyID, 0, len(keys))
	for _, k := range keys {
		ids = append(ids, k.ID())
	}
	return ids
}

func idOf(t *testing.T, encoded string) sealed.KeyID {
	t.Helper()
	k, err := sealed.ParseKey(encoded)
	require.NoError(t, err)
	return k.ID()
}

func TestPreviousDataKeys(t *testing.T) {
	k1, k2, k3 := encodedKey(1), encodedKey(2), encodedKey(3)
	dir := t.TempDir()
	file := filepath.Join(dir, "previous")
	require.NoError(t, os.WriteFile(file, []byte(k1+"\n"+k2+"\r\n"), 0o440))

	for _, tc := range []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"unset", nil, nil},
		{"empty", map[string]string{"HCW_DATA_KEYS_PREVIOUS": ""}, nil},
		{"blank", map[string]string{"HCW_DATA_KEYS_PREVIOUS": " , \n"}, nil},
		{"one", map[string]string{"HCW_DATA_KEYS_PREVIOUS": k1}, []string{k1}},
		{"commas", map[string]string{"HCW_DATA_KEYS_PREVIOUS": k1 + "," + k2 + ",," + k3}, []string{k1, k2, k3}},
		{"white space", map[string]string{"HCW_DATA_KEYS_PREVIOUS": " " + k3 + "\t" + k1 + "\n"}, []string{k3, k1}},
		{"padded", map[string]string{"HCW_DATA_KEYS_PREVIOUS": base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{2}, 32))}, []string{k2}},
		{"file, one a line", map[string]string{"HCW_DATA_KEYS_PREVIOUS_FILE": file}, []string{k1, k2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := config.Parse(env(tc.env))
			require.NoError(t, err)
			want := make([]sealed.KeyID, 0, len(tc.want))
			for _, k := range tc.want {
				want = append(want, idOf(t, k))
			}
			assert.Equal(t, want, keyIDs(o.PreviousDataKeys))
		})
	}
}

func TestPreviousDataKeysInvalid(t *testing.T) {
	good := encodedKey(1)
	short := base64.RawURLEncoding.EncodeToString([]byte("sixteen byte key"))
	dir := t.TempDir()
	badFile := filepath.Join(dir, "previous")
	require.NoError(t, os.WriteFile(badFile, []byte(good+"\n"+short+"\n"), 0o440))
	emptyFile := filepath.Join(dir, "empty")
	require.NoError(t, os.WriteFile(emptyFile, nil, 0o440))

	for _, tc := range []struct {
		name, want, secret string
		env                map[string]string
	}{
		{"second key too short", "HCW_DATA_KEYS_PREVIOUS: key 2 of 2: invalid data key: decodes to 16 bytes, want 32", short,
			map[string]string{"HCW_DATA_KEYS_PREVIOUS": good + "," + short}},
		{"passphrase", "HCW_DATA_KEYS_PREVIOUS: key 1 of 3: invalid data key: not base64url", "correct",
			map[string]string{"HCW_DATA_KEYS_PREVIOUS": "correct horse battery"}},
		{"standard base64", "HCW_DATA_KEYS_PREVIOUS: key 1 of 1: invalid data key: not base64url", "+/+/+/+/",
			map[string]string{"HCW_DATA_KEYS_PREVIOUS": strings.Repeat("+/", 21) + "8"}},
		{"file", "HCW_DATA_KEYS_PREVIOUS_FILE: key 2 of 2: invalid data key: decodes to 16 bytes, want 32", short,
			map[string]string{"HCW_DATA_KEYS_PREVIOUS_FILE": badFile}},
		{"both", "HCW_DATA_KEYS_PREVIOUS and HCW_DATA_KEYS_PREVIOUS_FILE are both set; use only one", good,
			map[string]string{"HCW_DATA_KEYS_PREVIOUS": good, "HCW_DATA_KEYS_PREVIOUS_FILE": badFile}},
		{"empty file", "HCW_DATA_KEYS_PREVIOUS_FILE: file", "",
			map[string]string{"HCW_DATA_KEYS_PREVIOUS_FILE": emptyFile}},
		{"missing file", "HCW_DATA_KEYS_PREVIOUS_FILE: open", "",
			map[string]string{"HCW_DATA_KEYS_PREVIOUS_FILE": filepath.Join(dir, "nope")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Parse(env(tc.env))
			require.Error(t, err)
			msg := err.Error()
			assert.True(t, strings.HasPrefix(msg, tc.want), msg)
			assert.NotContains(t, msg, "\n", "one line")
			if tc.secret != "" {
				assert.NotContains(t, msg, tc.secret, "the value is not echoed")
			}
		})
	}
}

// TestPreviousDataKeysOpen is the point of the variable: a keyring built as
// serve builds it seals with HCW_DATA_KEY and still opens what the previous
// key sealed.
func TestPreviousDataKeysOpen(t *testing.T) {
	oldKey := encodedKey(9)
	before, err := config.Parse(env(map[string]string{"HCW_DATA_KEY": oldKey}))
	require.NoError(t, err)
	oldRing, err := sealed.NewKeyring(before.DataKey, before.PreviousDataKeys...)
	require.NoError(t, err)
	aad := []byte("users.first_name:1")
	ct, err := oldRing.Seal([]byte("Ada"), aad)
	require.NoError(t, err)

	after, err := config.Parse(env(map[string]string{"HCW_DATA_KEY": encodedKey(10), "HCW_DATA_KEYS_PREVIOUS": oldKey}))
	require.NoError(t, err)
	ring, err := sealed.NewKeyring(after.DataKey, after.PreviousDataKeys...)
	require.NoError(t, err)
	plain, err := ring.Open(ct, aad)
	require.NoError(t, err)
	assert.Equal(t, "Ada", string(plain))
	fresh, err := ring.Seal([]byte("Ada"), aad)
	require.NoError(t, err)
	id, err := sealed.KeyIDOf(fresh)
	require.NoError(t, err)
	assert.Equal(t, after.DataKey.ID(), id, "new values are sealed with HCW_DATA_KEY")

	alone, err := sealed.NewKeyring(after.DataKey)
	require.NoError(t, err)
	_, err = alone.Open(ct, aad)
	require.ErrorIs(t, err, sealed.ErrUnknownKey, "without the previous key the old value does not open")
}
