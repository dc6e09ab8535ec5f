package throttle

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	for _, tc := range []struct {
		failures int
		want     time.Duration
	}{{1, 0}, {19, 0}, {20, time.Second}, {21, 2 * time.Second}, {25, 32 * time.Second}, {40, 15 * time.Minute}, {200, 15 * time.Minute}} {
		if got := Backoff(tc.failures, 20, 15*time.Minute); got != tc.want {
			t.Errorf("Backoff(%d) = %s, want %s", tc.failures, got, tc.want)
		}
	}
}

func TestRoundUp(t *testing.T) {
	for in, want := range map[time.Duration]time.Duration{
		time.Millisecond: time.Second, time.Second: time.Second, 1500 * time.Millisecond: 2 * time.Second,
	} {
		if got := RoundUp(in); got != want {
			t.Errorf("RoundUp(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestNewRefusesUnknownTables(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("New accepted a table that is not a throttle table")
		}
	}()
	New("users; DROP TABLE users", time.Hour, time.Minute)
}
