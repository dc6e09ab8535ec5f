package audit

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Moving bytes from one field to its neighbour must change the hash: that is
// what the length prefixes are for.
func TestChainHashIsUnambiguous(t *testing.T) {
	at := time.Unix(1700000000, 0)
	prev := make([]byte, hashSize)
	base := Event{At: at, ActorType: ActorUser, ActorID: "ab", Action: "x.y", ObjectType: "c", Outcome: OutcomeSuccess}
	shifted := base
	shifted.ActorID, shifted.Action = "a", "bx.y"
	assert.NotEqual(t, chainHash(1, base, prev), chainHash(1, shifted, prev))

	moved := base
	moved.ObjectType, moved.ObjectID = "", "c"
	assert.NotEqual(t, chainHash(1, base, prev), chainHash(1, moved, prev))

	assert.NotEqual(t, chainHash(1, base, prev), chainHash(2, base, prev), "seq is hashed")
	other := append([]byte{}, prev...)
	other[31] = 1
	assert.NotEqual(t, chainHash(1, base, prev), chainHash(1, base, other), "prev_hash is hashed")
	withIP := base
	withIP.ClientIP = netip.MustParseAddr("0.0.0.0")
	assert.NotEqual(t, chainHash(1, base, prev), chainHash(1, withIP, prev), "no address differs from 0.0.0.0")
	assert.Len(t, chainHash(1, base, prev), hashSize)
}

func TestNormalizeTruncatesAndDefaults(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 999_999_999, time.FixedZone("cet", 3600))
	e, err := normalize(Event{ActorType: ActorSystem, Action: ActionAuditVerified, Outcome: OutcomeSuccess,
		ClientIP: netip.MustParseAddr("::ffff:10.1.2.3")}, now)
	require.NoError(t, err)
	assert.Equal(t, time.Date(2025, 1, 2, 2, 4, 5, 999_999_000, time.UTC), e.At, "UTC, truncated not rounded")
	assert.Equal(t, netip.MustParseAddr("10.1.2.3"), e.ClientIP)
}
