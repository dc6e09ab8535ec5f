package config_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/backend/internal/config"
)

func TestMetricsListen(t *testing.T) {
	o, err := config.Parse(env(nil))
	require.NoError(t, err)
	assert.Equal(t, ":9090", o.MetricsListen)

	o, err = config.Parse(env(map[string]string{"HCW_METRICS_LISTEN": "off"}))
	require.NoError(t, err)
	assert.Equal(t, "off", o.MetricsListen)

	_, err = config.Parse(env(map[string]string{"HCW_METRICS_LISTEN": "9090"}))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "HCW_METRICS_LISTEN")
}
