#!/bin/sh
# bench.sh: CPU and memory of gpsntpd -sim with 0 and 8 live viewers of the
# status page (the default viewer limit), SECS seconds each, and the bytes
# a viewer receives. Loopback only; the daemon runs without CAP_SYS_TIME.
#
#   go build -o /tmp/gpsntpd ./cmd/gpsntpd
#   web/bench.sh /tmp/gpsntpd [SECS]
set -e
bin=${1:?usage: web/bench.sh GPSNTPD [SECS]}
secs=${2:-60}
port=18124
dir=$(mktemp -d)
setpriv --bounding-set -sys_time --inh-caps -sys_time \
	"$bin" -sim -listen 127.0.0.1:12398 -web 127.0.0.1:$port -control none -status-interval 0 >"$dir/d.log" 2>&1 &
pid=$!
pids=""
trap 'kill $pid $pids 2>/dev/null; rm -rf "$dir"' EXIT
sleep 15
cpu() { awk '{print $14+$15}' /proc/$pid/stat; } # utime+stime, clock ticks
rss() { awk '/VmRSS/{print $2}' /proc/$pid/status; }
a=$(cpu); sleep "$secs"; b=$(cpu)
echo "0 viewers: $((b - a)) ticks in ${secs}s, rss $(rss) kB"
curl -s -N -H 'Accept-Encoding: gzip' -o "$dir/raw.gz" --max-time 21 http://127.0.0.1:$port/events || true
echo "one viewer, 21 s on the wire gzipped: $(wc -c <"$dir/raw.gz") B"
for i in 1 2 3 4 5 6 7 8; do
	curl -s -N --compressed -o "$dir/v$i.out" http://127.0.0.1:$port/events &
	pids="$pids $!"
done
sleep 3
a=$(cpu); s0=$(wc -c <"$dir/v1.out"); sleep "$secs"; b=$(cpu); s1=$(wc -c <"$dir/v1.out")
echo "8 viewers: $((b - a)) ticks in ${secs}s, rss $(rss) kB; one viewer's stream $(((s1 - s0) / secs)) B/s inflated"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 http://127.0.0.1:$port/events || true)
echo "9th viewer: HTTP $code"
echo "load: $(uptime)"
