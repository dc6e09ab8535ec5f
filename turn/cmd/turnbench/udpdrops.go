package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// udpDrops returns, per local port, the datagrams the kernel dropped on
// IPv4 UDP sockets of this network namespace (mostly a full receive
// buffer), summed over the sockets bound to that port.
func udpDrops() (map[int]uint64, error) {
	f, err := os.Open("/proc/net/udp")
	if err != nil {
		return nil, fmt.Errorf("udp drops: %w", err)
	}
	defer func() { _ = f.Close() }()
	return parseUDPDrops(f)
}

// parseUDPDrops reads the /proc/net/udp format: a header line, then one
// socket a line with the local address as HEXIP:HEXPORT in the second
// column and the drop count in the thirteenth.
func parseUDPDrops(r io.Reader) (map[int]uint64, error) {
	drops := map[int]uint64{}
	sc := bufio.NewScanner(r)
	first := true
	for sc.Scan() {
		if first {
			first = false
			continue
		}
		f := strings.Fields(sc.Text())
		if len(f) < 13 {
			continue
		}
		_, hexPort, ok := strings.Cut(f[1], ":")
		if !ok {
			continue
		}
		port, err := strconv.ParseUint(hexPort, 16, 16)
		if err != nil {
			continue
		}
		d, err := strconv.ParseUint(f[12], 10, 64)
		if err != nil {
			continue
		}
		drops[int(port)] += d
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("udp drops: %w", err)
	}
	return drops, nil
}

// dropDelta sums after-before over ports; a port missing from before
// counts from zero.
func dropDelta(before, after map[int]uint64, ports []int) uint64 {
	var sum uint64
	for _, p := range ports {
		if a, b := after[p], before[p]; a > b {
			sum += a - b
		}
	}
	return sum
}
