package main

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// schedule returns the start offsets of an open-loop run: rate arrivals per
// second, evenly spaced, for d. Joins start at these offsets whether or not
// earlier ones have finished, so a slow server cannot slow the arrivals
// down and hide its own latency (coordinated omission).
func schedule(rate float64, d time.Duration) []time.Duration {
	if rate <= 0 || d <= 0 {
		return nil
	}
	n := int(math.Floor(rate*d.Seconds() + 1e-9))
	offsets := make([]time.Duration, n)
	for i := range offsets {
		offsets[i] = time.Duration(float64(i) * float64(time.Second) / rate)
	}
	return offsets
}

// percentile is the nearest-rank p-th percentile (0 < p <= 100) of sorted,
// which must be in ascending order; zero when sorted is empty.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// outcome is one join as the load generator saw it.
type outcome struct {
	// Lag is how late the join started against its schedule: a large lag
	// means the generator itself could not keep the rate.
	Lag time.Duration
	// Latency runs from the start of the redemption to the answer of
	// GET /participant/me; meaningful only when Err is nil.
	Latency time.Duration
	// Stage names the step that failed (redeem, socket, hello, me).
	Stage string
	Err   error
	// Stages splits Latency into redeem, socket (dial and hello) and me.
	Stages [3]time.Duration
}

// stageNames name the parts of Stages.
var stageNames = [3]string{"redeem", "socket+hello", "me"}

// summary is one step's figures.
type summary struct {
	Rate               float64
	Joins, Errors      int
	P50, P90, P99, Max time.Duration
	LagMax             time.Duration
	ErrorsByStage      map[string]int
	// StageP50, StageP99 are per part of the join (stageNames).
	StageP50, StageP99 [3]time.Duration
	FirstError         string
}

// summarize computes a step's percentiles over the successful joins; failed
// joins count as errors and stay out of the latency figures.
func summarize(rate float64, outcomes []outcome) summary {
	s := summary{Rate: rate, Joins: len(outcomes), ErrorsByStage: map[string]int{}}
	ok := make([]time.Duration, 0, len(outcomes))
	for _, o := range outcomes {
		s.LagMax = max(s.LagMax, o.Lag)
		if o.Err != nil {
			s.Errors++
			s.ErrorsByStage[o.Stage]++
			if s.FirstError == "" {
				s.FirstError = fmt.Sprintf("%s: %v", o.Stage, o.Err)
			}
			continue
		}
		ok = append(ok, o.Latency)
	}
	for k := range stageNames {
		part := make([]time.Duration, 0, len(outcomes))
		for _, o := range outcomes {
			if o.Err == nil {
				part = append(part, o.Stages[k])
			}
		}
		slices.Sort(part)
		s.StageP50[k], s.StageP99[k] = percentile(part, 50), percentile(part, 99)
	}
	slices.Sort(ok)
	s.P50, s.P90, s.P99 = percentile(ok, 50), percentile(ok, 90), percentile(ok, 99)
	if len(ok) > 0 {
		s.Max = ok[len(ok)-1]
	}
	return s
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond)) }

// row is the step as one Markdown table row.
func (s summary) row(round int) string {
	return fmt.Sprintf("| %d | %.0f | %d | %s | %s | %s | %s | %d | %s |", round, s.Rate, s.Joins,
		ms(s.P50), ms(s.P90), ms(s.P99), ms(s.Max), s.Errors, ms(s.LagMax))
}

const tableHeader = "| round | joins/s | joins | p50 ms | p90 ms | p99 ms | max ms | errors | max start lag ms |\n|---|---|---|---|---|---|---|---|---|"

// stages is the per-part breakdown on one line.
func (s summary) stages() string {
	var b strings.Builder
	for k, name := range stageNames {
		fmt.Fprintf(&b, " %s p50/p99 %s/%s ms;", name, ms(s.StageP50[k]), ms(s.StageP99[k]))
	}
	return strings.TrimSuffix(b.String(), ";")
}
