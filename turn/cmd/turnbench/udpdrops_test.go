package main

import (
	"strings"
	"testing"
)

func TestParseUDPDrops(t *testing.T) {
	const table = `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  100: 0100007F:5B96 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 123 2 0000000000000000 7
  101: 0100007F:5B96 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 124 2 0000000000000000 5
  102: 00000000:5DC0 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 125 2 0000000000000000 0
`
	got, err := parseUDPDrops(strings.NewReader(table))
	if err != nil {
		t.Fatal(err)
	}
	if got[23446] != 12 || got[24000] != 0 || len(got) != 2 {
		t.Fatalf("drops = %v", got)
	}
	before := map[int]uint64{23446: 2}
	if d := dropDelta(before, got, []int{23446, 24000, 1}); d != 10 {
		t.Fatalf("delta = %d, want 10", d)
	}
}
