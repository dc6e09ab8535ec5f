package pionslog_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/turn/internal/pionslog"
)

func TestFactory(t *testing.T) {
	var buf bytes.Buffer
	f := pionslog.Factory{Logger: slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	l := f.NewLogger("turn")
	l.Debugf("dropped %d", 1)
	l.Tracef("dropped %d", 2)
	l.Warnf("relay %s failed", "x")

	var rec map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &rec), "exactly one JSON record: %s", buf.String())
	require.Equal(t, "WARN", rec["level"])
	require.Equal(t, "relay x failed", rec["msg"])
	require.Equal(t, "pion/turn", rec["component"])
}
