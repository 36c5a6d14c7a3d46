#!/bin/sh
# bench.sh: gpsntp's ntpserve (ntpload -serve) against chronyd on the same
# machine, with the same load tool, runs interleaved so both see the same
# background load. Prints one line per measurement and the medians.
#
#   go build -o /tmp/ntpload ./cmd/ntpload
#   cmd/ntpload/bench.sh [runs] [seconds] [rate...]
#
# Environment: BEFORE=path adds an older ntpload build's server ("before")
# to every run, measured by this build's load tool and probe; SERVE_FLAGS
# are extra -serve flags for this build's server; GPORT and CPORT the
# ports; WORKERS the server's -workers.
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
GPORT=${GPORT:-12300}
CPORT=${CPORT:-12301}
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
nsrv=2
[ -z "${BEFORE:-}" ] || nsrv=3
total=$((RUNS * nsrv * (1 + $(echo $RATES | wc -w)) * (SECS + 2) + 10))

start() { # $1: gpsntp|before|chronyd; sets pid and port
	case $1 in
	before) # the same harness with an older build's server (BEFORE=path)
		$nocap "$BEFORE" -serve 127.0.0.1:$GPORT -workers "${WORKERS:-0}" -duration 100s >"$dir/b.log" 2>&1 &
		pid=$! port=$GPORT ;;
	gpsntp)
		$nocap "$NTPLOAD" -serve 127.0.0.1:$GPORT -workers "${WORKERS:-0}" ${SERVE_FLAGS:-} -duration 100s >"$dir/g.log" 2>&1 &
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
	# Served-time error under this load: a probe's single queries, 10 ms
	# apart, for about 80 % of the run (400 per 5 s: a p99 is then the
	# 4th-worst, not the 2nd).
	"$NTPLOAD" -addr 127.0.0.1:$port -probe $((SECS * 80)) -probe-every 10ms >"$dir/probe" 2>&1 &
	probe=$!
	out=$("$NTPLOAD" -addr 127.0.0.1:$port -pid $pid -duration ${SECS}s "$@")
	wait $probe || true
	err=$(sed -n 's/^probe error p50 \([0-9.]*\) µs  p99 \([0-9.]*\) µs.*median offset \([-+0-9.]*\) µs  (signed p1 \([-+0-9.]*\) p99 \([-+0-9.]*\))/err_p50=\1 err_p99=\2 err_med=\3 err_p1=\4 err_p99s=\5/p' "$dir/probe")
	rps=$(echo "$out" | sed -n 's/^replies .*(\([0-9]*\)\/s)/\1/p')
	cpu=$(echo "$out" | sed -n 's/^cpu per reply *\([0-9.]*\) µs/\1/p')
	lost=$(echo "$out" | sed -n 's/^lost *[0-9]* (\([0-9.]*\)%)/\1/p')
	lat=$(echo "$out" | sed -n 's/^latency *p50 \([^ ]*\)  p99 \([^ ]*\) .*/p50=\1 p99=\2/p')
	echo "$srv $label rps=$rps cpu_us=$cpu ${err:-err_p50=? err_p99=?} lost%=$lost $lat" | tee -a "$dir/results"
}

echo "# $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), nproc $(nproc), load $(cut -d' ' -f1-3 /proc/loadavg), runs $RUNS x ${SECS}s (about ${total}s)"
for r in $(seq 1 "$RUNS"); do
	for srv in ${BEFORE:+before} gpsntp chronyd; do
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
echo "# medians (server mode: replies/s, CPU µs per reply, served-time error p50/p99 µs)"
awk '
function med(x, m,   i, j, t) {
	for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (x[j] < x[i]) { t = x[i]; x[i] = x[j]; x[j] = t }
	return x[int((m + 1) / 2)]
}
{
	k = $1 " " $2; n[k]++
	for (f = 3; f <= 6; f++) { split($f, a, "="); v[k, n[k], f] = a[2] + 0 }
} END {
	for (k in n) {
		m = n[k]
		for (f = 3; f <= 6; f++) { delete x; for (i = 1; i <= m; i++) x[i] = v[k, i, f]; md[f] = med(x, m) }
		printf "%-8s %-10s rps %8d  cpu/reply %6.2f µs  error p50 %6.1f µs  p99 %7.1f µs  (n=%d)\n", substr(k, 1, index(k, " ") - 1), substr(k, index(k, " ") + 1), md[3], md[4], md[5], md[6], m
	}
}' "$dir/results" | sort -k2,2 -k1,1
