package config_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/backend/internal/config"
)

func TestNurseSelfRegistration(t *testing.T) {
	o, err := config.Parse(env(nil))
	require.NoError(t, err)
	assert.False(t, o.NurseSelfRegistration, "off by default")
	o, err = config.Parse(env(map[string]string{"HCW_NURSE_SELF_REGISTRATION": "true"}))
	require.NoError(t, err)
	assert.True(t, o.NurseSelfRegistration)
	_, err = config.Parse(env(map[string]string{"HCW_NURSE_SELF_REGISTRATION": "maybe"}))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "HCW_NURSE_SELF_REGISTRATION")
}
