#!/usr/bin/env python3
"""Summarise bench.sh output: median and range per server and run kind,
round 1 discarded (warm-up). Usage: summarise.py < raw"""
import statistics
import sys
from collections import defaultdict

FIGURES = ["allocs_per_s", "lat_p99_ms", "cpu_us_per_alloc", "offered_pps", "loss_pct", "drops_listen", "drops_relay", "drops_peer", "drops_client",
           "cpu_us_per_datagram", "rtt_p99_ms", "errors", "rcvbuf_errors"]

rows = defaultdict(lambda: defaultdict(list))
for line in sys.stdin:
    if line.startswith("#") or "=" not in line:
        continue
    kv = dict(f.split("=", 1) for f in line.split() if "=" in f)
    if kv.get("round") == "1" or "mode" not in kv:
        continue
    kind = kv["mode"] + "/" + kv.get("transport", "")
    if kv["mode"] == "relay":
        kind += "/%spps" % (int(kv["allocs"]) * int(kv["rate"]))
    for f in FIGURES:
        if f in kv and kv[f] != "nan":
            rows[(kind, kv["server"])][f].append(float(kv[f]))

print("| run | server | figure | median | range | n |")
print("|---|---|---|---|---|---|")
for (kind, server), figs in sorted(rows.items()):
    for f in FIGURES:
        v = figs.get(f)
        if v:
            print("| %s | %s | %s | %.4g | %.4g-%.4g | %d |" % (kind, server, f, statistics.median(v), min(v), max(v), len(v)))
