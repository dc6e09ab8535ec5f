#!/usr/bin/env bash
# bench.sh: our TURN server against Debian's coturn, alternating rounds
# (ours, coturn, ours, coturn...), the servers pinned to CPU 0 and the load
# (turnbench, turnutils_uclient/turnutils_peer) to CPU 1. Prints one
# key=value line per run to stdout; summarise with summarise.py.
#
#   cd turn && go build -o /tmp/hcw-turn ./cmd/turn && go build -o /tmp/turnbench ./cmd/turnbench
#   flock /tmp/bench.lock turn/cmd/turnbench/bench.sh 6 > /tmp/turn-bench.raw
#   python3 turn/cmd/turnbench/summarise.py < /tmp/turn-bench.raw
#
# Ports (all on 127.0.0.1): ours 23478 udp+tcp, relay 24000-26999, metrics
# 23491; coturn 23479 (alt 23489), relay 27000-29999; peers 23480 (turnbench)
# and 23482 (turnutils_peer).
set -euo pipefail
ROUNDS=${1:-6}
OURS=${OURS:-/tmp/hcw-turn}
BENCH=${BENCH:-/tmp/turnbench}
SECRET=${SECRET:-benchsecret0123456789abcdef}
LOGDIR=${LOGDIR:-/tmp/turnbench-logs}
mkdir -p "$LOGDIR"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

HCW_TURN_SECRET=$SECRET HCW_TURN_LISTEN_UDP=127.0.0.1:23478 HCW_TURN_LISTEN_TCP=127.0.0.1:23478 \
  HCW_TURN_PUBLIC_IP=127.0.0.1 HCW_TURN_RELAY_PORT_MIN=24000 HCW_TURN_RELAY_PORT_MAX=26999 \
  HCW_TURN_ALLOW_PEERS=127.0.0.0/8 HCW_TURN_USER_QUOTA=1000 HCW_TURN_INTERNAL_LISTEN=127.0.0.1:23491 \
  HCW_LOG_LEVEL=warn taskset -c 0 "$OURS" >"$LOGDIR/ours.log" 2>&1 &
OURS_PID=$!; pids+=("$OURS_PID")
taskset -c 0 turnserver -n --listening-ip=127.0.0.1 --listening-port=23479 --alt-listening-port=23489 \
  --relay-ip=127.0.0.1 --min-port=27000 --max-port=29999 --use-auth-secret --static-auth-secret="$SECRET" \
  --realm=hcw --allow-loopback-peers --no-cli --no-tls --no-dtls --log-file="$LOGDIR/coturn.log" --simple-log \
  --pidfile="$LOGDIR/coturn.pid" --userdb="$LOGDIR/turndb" \
  >"$LOGDIR/coturn.out" 2>&1 &
COTURN_PID=$!; pids+=("$COTURN_PID")
taskset -c 1 turnutils_peer -p 23482 -L 127.0.0.1 >"$LOGDIR/peer.log" 2>&1 &
pids+=("$!")
sleep 2

ticks() { awk '{sub(/.*\) /, ""); print $12 + $13}' "/proc/$1/stat"; }
rcvbuf_errors() { awk '/^Udp:/ { if (h) print $6; h = 1 }' /proc/net/snmp; }
# port_drops PORT: receive-buffer drops of the UDP sockets bound to PORT.
port_drops() { awk -v p="$(printf '%04X' "$1")" 'NR > 1 { split($2, a, ":"); if (a[2] == p) d += $13 } END { print d + 0 }' /proc/net/udp; }

# run NAME PORT PID ARGS...: one turnbench run, with the UDP receive-buffer
# drops of this network namespace over the run appended.
run() {
  local name=$1 port=$2 pid=$3; shift 3
  local e0; e0=$(rcvbuf_errors)
  local out
  out=$(taskset -c 1 "$BENCH" -server "127.0.0.1:$port" -secret "$SECRET" -pid "$pid" -label "round=$round server=$name " "$@" 2>&1) || out="round=$round server=$name failed: ${out//$'\n'/ }"
  echo "$out rcvbuf_errors=$(( $(rcvbuf_errors) - e0 ))"
}

# uclient NAME PORT PID: turnutils_uclient relaying through 50 clients to
# turnutils_peer (which echoes), 200 packets/s each for 5 s.
uclient() {
  local name=$1 port=$2 pid=$3
  local t0 e0 l0 out; t0=$(ticks "$pid"); e0=$(rcvbuf_errors); l0=$(port_drops "$port")
  # A fresh client address per run, so no 5-tuple of an earlier run is reused.
  local src="127.$((RANDOM % 254 + 1)).$((RANDOM % 256)).$((RANDOM % 254 + 1))"
  out=$(timeout 120 taskset -c 1 turnutils_uclient -W "$SECRET" -u "uc$round$name" -p "$port" -e 127.0.0.1 -r 23482 -L "$src" \
    -m 50 -n 1000 -l 160 -z 5 -c -X 127.0.0.1 2>&1 || true)
  local t1; t1=$(ticks "$pid")
  local sent recv lost
  sent=$(sed -n 's/.*start_mclient: tot_send_msgs=\([0-9]*\), tot_recv_msgs=\([0-9]*\).*/\1/p' <<<"$out" | tail -1)
  recv=$(sed -n 's/.*start_mclient: tot_send_msgs=\([0-9]*\), tot_recv_msgs=\([0-9]*\).*/\2/p' <<<"$out" | tail -1)
  lost=$(sed -n 's/.*Total lost packets [0-9]* (\([0-9.]*\)%).*/\1/p' <<<"$out" | tail -1)
  echo "round=$round server=$name mode=uclient transport=udp sent=${sent:-0} back_rx=${recv:-0} loss_pct=${lost:-nan}" \
    "server_cpu_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", (b-a)/100}')" \
    "cpu_us_per_datagram=$(awk -v a="$t0" -v b="$t1" -v r="${recv:-0}" 'BEGIN{ if (r>0) printf "%.2f", (b-a)*1e4/(2*r); else print "nan"}')" \
    "drops_listen=$(( $(port_drops "$port") - l0 ))" "rcvbuf_errors=$(( $(rcvbuf_errors) - e0 ))"
}

for round in $(seq 1 "$ROUNDS"); do
  while pgrep -f ci-clone >/dev/null; do echo "# round $round: waiting for a CI run to finish" >&2; sleep 30; done
  for s in "ours 23478 $OURS_PID" "coturn 23479 $COTURN_PID"; do
    set -- $s
    run "$1" "$2" "$3" -mode alloc -n 1000 -c 16
    run "$1" "$2" "$3" -mode alloc -n 500 -c 16 -tcp
    run "$1" "$2" "$3" -mode relay -allocs 100 -rate 100 -size 160 -duration 5s -peer 127.0.0.1:23480
    run "$1" "$2" "$3" -mode relay -allocs 100 -rate 200 -size 160 -duration 5s -peer 127.0.0.1:23480
    run "$1" "$2" "$3" -mode relay -allocs 100 -rate 100 -size 160 -duration 5s -peer 127.0.0.1:23480 -tcp
    uclient "$1" "$2" "$3"
  done
done
echo "# ours rss_kb=$(awk '/VmRSS/{print $2}' /proc/$OURS_PID/status) threads=$(awk '/Threads/{print $2}' /proc/$OURS_PID/status)"
echo "# coturn rss_kb=$(awk '/VmRSS/{print $2}' /proc/$COTURN_PID/status) threads=$(awk '/Threads/{print $2}' /proc/$COTURN_PID/status)"
curl -s 127.0.0.1:23491/metrics | grep -E '^hcw_turn_(allocations|quota|auth|permission)' | sed 's/^/# ours /' || true
