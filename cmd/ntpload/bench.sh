#!/bin/sh
# bench.sh: gpsntp's ntpserve (ntpload -serve) against chronyd on the same
# machine, with the same load tool, runs interleaved so both see the same
# background load. Prints one line per measurement and the medians.
#
#   go build -o /tmp/ntpload ./cmd/ntpload
#   cmd/ntpload/bench.sh [runs] [seconds] [rate...]
#
# chronyd runs as a stratum-1 local clock (`local stratum 1`), -x (never
# touches the clock) and without CAP_SYS_TIME, as root (-u root: a build
# machine may have no chrony user). Loopback only, bounded in time.
set -eu
RUNS=${1:-3}
SECS=${2:-3}
shift 2 2>/dev/null || true
RATES=${*:-5000}
NTPLOAD=${NTPLOAD:-/tmp/ntpload}
CHRONYD=${CHRONYD:-/tmp/chrony/usr/sbin/chronyd}
GPORT=12300
CPORT=12301
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cat >"$dir/chrony.conf" <<EOF
port $CPORT
bindaddress 127.0.0.1
local stratum 1
allow 127.0.0.0/8
cmdport 0
pidfile $dir/chronyd.pid
EOF
nocap="setpriv --bounding-set -sys_time --inh-caps -sys_time"
total=$((RUNS * (2 + $(echo $RATES | wc -w)) * (SECS + 1) + 10))

start() { # $1: gpsntp|chronyd; sets pid and port
	case $1 in
	gpsntp)
		$nocap "$NTPLOAD" -serve 127.0.0.1:$GPORT -workers "${WORKERS:-0}" -duration 100s >"$dir/g.log" 2>&1 &
		pid=$! port=$GPORT ;;
	chronyd)
		$nocap "$CHRONYD" -d -x -u root -f "$dir/chrony.conf" >"$dir/c.log" 2>&1 &
		pid=$! port=$CPORT ;;
	esac
	sleep 1
}
stop() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }

measure() { # $1 server, $2 mode label, rest: ntpload flags
	srv=$1 label=$2
	shift 2
	out=$("$NTPLOAD" -addr 127.0.0.1:$port -pid $pid -duration ${SECS}s "$@")
	rps=$(echo "$out" | sed -n 's/^replies .*(\([0-9]*\)\/s)/\1/p')
	cpu=$(echo "$out" | sed -n 's/^cpu per reply *\([0-9.]*\) µs/\1/p')
	lost=$(echo "$out" | sed -n 's/^lost *[0-9]* (\([0-9.]*\)%)/\1/p')
	lat=$(echo "$out" | sed -n 's/^latency *p50 \([^ ]*\)  p99 \([^ ]*\) .*/p50=\1 p99=\2/p')
	echo "$srv $label rps=$rps cpu_us=$cpu lost%=$lost $lat" | tee -a "$dir/results"
}

echo "# $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), nproc $(nproc), load $(cut -d' ' -f1-3 /proc/loadavg), runs $RUNS x ${SECS}s (about ${total}s)"
for r in $(seq 1 "$RUNS"); do
	for srv in gpsntp chronyd; do
		start $srv
		"$NTPLOAD" -addr 127.0.0.1:$port -duration 1s >/dev/null # warm up
		measure $srv capacity
		for rate in $RATES; do
			measure $srv "rate$rate" -rate "$rate"
		done
		stop
	done
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# medians (server mode: replies/s, CPU µs per reply)"
awk '{
	split($3, a, "="); split($4, b, "="); k = $1 " " $2
	n[k]++; rps[k, n[k]] = a[2]; cpu[k, n[k]] = b[2]
} END {
	for (k in n) {
		m = n[k]
		for (i = 1; i <= m; i++) { r[i] = rps[k, i] + 0; c[i] = cpu[k, i] + 0 }
		for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) {
			if (r[j] < r[i]) { t = r[i]; r[i] = r[j]; r[j] = t }
			if (c[j] < c[i]) { t = c[i]; c[i] = c[j]; c[j] = t }
		}
		mid = int((m + 1) / 2)
		printf "%-8s %-10s rps %8d  cpu/reply %6.2f µs  (n=%d)\n", substr(k, 1, index(k, " ") - 1), substr(k, index(k, " ") + 1), r[mid], c[mid], m
	}
}' "$dir/results" | sort -k2,2 -k1,1
