package config_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/backend/internal/config"
)

func TestInviteTimes(t *testing.T) {
	o, err := config.Parse(env(nil))
	require.NoError(t, err)
	assert.Equal(t, 24*time.Hour, o.InviteTTL)
	assert.Equal(t, 10*time.Minute, o.InviteEarly)

	o, err = config.Parse(env(map[string]string{"HCW_INVITE_TTL": "48h", "HCW_INVITE_EARLY": "15m"}))
	require.NoError(t, err)
	assert.Equal(t, 48*time.Hour, o.InviteTTL)
	assert.Equal(t, 15*time.Minute, o.InviteEarly)

	for _, bad := range []map[string]string{
		{"HCW_INVITE_TTL": "tomorrow"},
		{"HCW_INVITE_TTL": "0s"},
		{"HCW_INVITE_EARLY": "-5m"},
		{"HCW_INVITE_TTL": "1h", "HCW_INVITE_EARLY": "2h"},
	} {
		_, err := config.Parse(env(bad))
		require.Error(t, err, "%v", bad)
		assert.Contains(t, err.Error(), "HCW_INVITE_")
	}
}

func TestInterpreterRequestTTL(t *testing.T) {
	o, err := config.Parse(env(nil))
	require.NoError(t, err)
	assert.Equal(t, 48*time.Hour, o.InterpreterRequestTTL)

	o, err = config.Parse(env(map[string]string{"HCW_INTERPRETER_REQUEST_TTL": "6h"}))
	require.NoError(t, err)
	assert.Equal(t, 6*time.Hour, o.InterpreterRequestTTL)

	for _, bad := range []string{"soon", "0s", "-1h"} {
		_, err := config.Parse(env(map[string]string{"HCW_INTERPRETER_REQUEST_TTL": bad}))
		require.Error(t, err, bad)
		assert.Contains(t, err.Error(), "HCW_INTERPRETER_REQUEST_TTL")
	}
}
