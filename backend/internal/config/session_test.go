package config_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/backend/internal/config"
)

func TestSessionTimeouts(t *testing.T) {
	o, err := config.Parse(env(nil))
	require.NoError(t, err)
	assert.Equal(t, 30*time.Minute, o.SessionIdleTimeout)
	assert.Equal(t, 12*time.Hour, o.SessionLifetime)

	o, err = config.Parse(env(map[string]string{"HCW_SESSION_IDLE_TIMEOUT": "15m", "HCW_SESSION_LIFETIME": "8h"}))
	require.NoError(t, err)
	assert.Equal(t, 15*time.Minute, o.SessionIdleTimeout)
	assert.Equal(t, 8*time.Hour, o.SessionLifetime)

	for _, bad := range []map[string]string{
		{"HCW_SESSION_IDLE_TIMEOUT": "soon"},
		{"HCW_SESSION_LIFETIME": "-1h"},
		{"HCW_SESSION_IDLE_TIMEOUT": "2h", "HCW_SESSION_LIFETIME": "1h"},
	} {
		_, err := config.Parse(env(bad))
		require.Error(t, err, "%v", bad)
		assert.Contains(t, err.Error(), "HCW_SESSION_")
	}
}
