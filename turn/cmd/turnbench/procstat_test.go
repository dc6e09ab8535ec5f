package main

import (
	"os"
	"testing"
)

func TestParseCPUTicks(t *testing.T) {
	// utime 1234 and stime 56; the command name holds ") " to show fields
	// are counted from the last ')'.
	line := "4242 (turn) (x) S 1 4242 4242 0 -1 4194560 500 0 0 0 1234 56 0 0 20 0 7 0 100 1000000 200 18446744073709551615\n"
	got, err := parseCPUTicks(line)
	if err != nil {
		t.Fatal(err)
	}
	if got != 1290 {
		t.Fatalf("ticks = %d, want 1290", got)
	}
	for _, bad := range []string{"", "4242 turn S 1", "4242 (turn) S 1 2 3"} {
		if _, err := parseCPUTicks(bad); err == nil {
			t.Errorf("parseCPUTicks(%q) succeeded", bad)
		}
	}
}

func TestReadCPUTicksSelf(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	if _, err := readCPUTicks(os.Getpid()); err != nil {
		t.Fatal(err)
	}
}
