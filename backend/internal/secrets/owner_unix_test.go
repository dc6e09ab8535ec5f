//go:build unix

package secrets_test

import (
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

func assertOwner(t *testing.T, path string, uid, gid int) {
	t.Helper()
	st, err := os.Stat(path)
	require.NoError(t, err)
	sys, ok := st.Sys().(*syscall.Stat_t)
	require.True(t, ok)
	require.EqualValues(t, uid, sys.Uid, path)
	require.EqualValues(t, gid, sys.Gid, path)
}
