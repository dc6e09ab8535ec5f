package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat; it
// is 100 on every Linux architecture Go supports.
const clockTicks = 100

// cpuMeter measures the CPU time a process spent between start and stop.
type cpuMeter struct {
	pid   int
	ticks uint64
}

func newCPUMeter(pid int) *cpuMeter { return &cpuMeter{pid: pid} }

func (m *cpuMeter) start() error {
	if m.pid == 0 {
		return nil
	}
	t, err := readCPUTicks(m.pid)
	if err != nil {
		return err
	}
	m.ticks = t
	return nil
}

// stop returns the seconds of CPU (user and system) spent since start.
func (m *cpuMeter) stop() (float64, error) {
	if m.pid == 0 {
		return 0, nil
	}
	t, err := readCPUTicks(m.pid)
	if err != nil {
		return 0, err
	}
	return float64(t-m.ticks) / clockTicks, nil
}

func readCPUTicks(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("server cpu: %w", err)
	}
	return parseCPUTicks(string(b))
}

var errStat = errors.New("server cpu: unexpected /proc/PID/stat format")

// parseCPUTicks returns utime+stime (fields 14 and 15, in clock ticks) of a
// /proc/PID/stat line. The command name (field 2) is parenthesised and may
// itself hold spaces and parentheses, so fields are counted from the last
// ')'.
func parseCPUTicks(stat string) (uint64, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errStat
	}
	// After ')': field 3 (state) is the first.
	f := strings.Fields(stat[i+1:])
	if len(f) < 13 {
		return 0, errStat
	}
	utime, err := strconv.ParseUint(f[11], 10, 64)
	if err != nil {
		return 0, errStat
	}
	stime, err := strconv.ParseUint(f[12], 10, 64)
	if err != nil {
		return 0, errStat
	}
	return utime + stime, nil
}
