package main

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSchedule(t *testing.T) {
	tests := []struct {
		name  string
		rate  float64
		d     time.Duration
		n     int
		step  time.Duration
		final time.Duration
	}{
		{"200 per second for 20 s", 200, 20 * time.Second, 4000, 5 * time.Millisecond, 19995 * time.Millisecond},
		{"50 per second for 1 s", 50, time.Second, 50, 20 * time.Millisecond, 980 * time.Millisecond},
		{"fractional rate", 2.5, 2 * time.Second, 5, 400 * time.Millisecond, 1600 * time.Millisecond},
		{"shorter than one interval", 1, 500 * time.Millisecond, 0, 0, 0},
		{"no rate", 0, time.Second, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := schedule(tt.rate, tt.d)
			require.Len(t, got, tt.n)
			if tt.n == 0 {
				return
			}
			assert.Equal(t, time.Duration(0), got[0], "the first join starts at once")
			assert.Equal(t, tt.final, got[len(got)-1])
			for i := 1; i < len(got); i++ {
				// Evenly spaced, independent of how long joins take: open loop.
				assert.InDelta(t, float64(tt.step), float64(got[i]-got[i-1]), 1, "gap %d", i)
			}
		})
	}
}

func TestPercentile(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 99, 0},
		{"one value", []time.Duration{7}, 50, 7},
		{"p50 of 1..100", hundred, 50, 50 * time.Millisecond},
		{"p90 of 1..100", hundred, 90, 90 * time.Millisecond},
		{"p99 of 1..100", hundred, 99, 99 * time.Millisecond},
		{"p100 is the max", hundred, 100, 100 * time.Millisecond},
		{"nearest rank rounds up", []time.Duration{1, 2, 3, 4}, 50, 2},
		{"p99 of few values is the max", []time.Duration{1, 2, 3}, 99, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, percentile(tt.sorted, tt.p))
		})
	}
}

func TestSummarizeKeepsErrorsOutOfLatency(t *testing.T) {
	outcomes := []outcome{
		{Latency: 30 * time.Millisecond, Lag: time.Millisecond},
		{Latency: 10 * time.Millisecond},
		{Latency: 20 * time.Millisecond, Lag: 4 * time.Millisecond},
		{Stage: "socket", Err: errors.New("refused"), Latency: time.Hour},
		{Stage: "redeem", Err: errors.New("429")},
		{Stage: "socket", Err: errors.New("reset")},
	}
	s := summarize(100, outcomes)
	assert.Equal(t, 6, s.Joins)
	assert.Equal(t, 3, s.Errors)
	assert.Equal(t, map[string]int{"socket": 2, "redeem": 1}, s.ErrorsByStage)
	assert.Equal(t, "socket: refused", s.FirstError)
	assert.Equal(t, 20*time.Millisecond, s.P50)
	assert.Equal(t, 30*time.Millisecond, s.P99)
	assert.Equal(t, 30*time.Millisecond, s.Max, "a failed join's time is not a latency")
	assert.Equal(t, 4*time.Millisecond, s.LagMax)
	assert.Equal(t, "| 2 | 100 | 6 | 20.0 | 30.0 | 30.0 | 30.0 | 3 | 4.0 |", s.row(2))
}
