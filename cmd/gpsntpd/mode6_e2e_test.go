//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/internal/ctl"
)

// mode6Conf is the shipped access (packaging/gpsntp.conf): noquery for
// all, lifted for loopback; 127.0.0.2 is covered by the default line.
const mode6Conf = `restrict default nomodify notrap nopeer noquery kod limited
restrict 127.0.0.1
restrict ::1
`

// mode6Script runs in a fresh network namespace ($0: gpsntpd, $1: its
// config, $2: check_ntp_peer, $3: working directory): gpsntpd -sim on
// 127.0.0.1:123 (ntpq has no port option), then, once the test creates
// $3/go (the daemon is locked to PPS), ntpq and check_ntp_peer without
// CAP_SYS_TIME, a write and unknown opcodes sent raw, and the same reads
// again from 127.0.0.2 (noquery). Each section is headed `== NAME` and
// ends with `== exit STATUS`.
const mode6Script = `set -u
ip link set lo up || exit 97
ip addr add 127.0.0.2/8 dev lo || exit 97
"$0" -sim -config "$1" -status-interval 0 -listen 127.0.0.1:123 >"$3/daemon.log" 2>&1 &
dpid=$!
i=0
while [ ! -e "$3/go" ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done
run() {
	name=$1; shift
	echo "== $name"
	timeout 30 setpriv --bounding-set -sys_time --inh-caps -sys_time "$@" 2>&1
	echo "== exit $?"
}
raw() {
	# Sends each opcode a 16-byte request (data "leap=3", padded) and
	# prints how many bytes came back (0: nothing within 1 s).
	run "$1" python3 -c '
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1)
for op in (3, 8, 10, 12, 17, 31):
    req = struct.pack("!BBHHHHH", 2 << 3 | 6, op, 7, 0, 0, 0, 6) + b"leap=3\0\0"
    s.sendto(req, ("127.0.0.1", 123))
    n = 0
    try:
        n = len(s.recv(2048))
    except socket.timeout:
        pass
    print("op %d sent %d got %d" % (op, len(req), n))
'
}
run peers ntpq -n -p 127.0.0.1
run rv ntpq -c rv 127.0.0.1
run as ntpq -c as 127.0.0.1
run check "$2" -H 127.0.0.1
raw writes
ip route replace local 127.0.0.1 dev lo table local proto kernel scope host src 127.0.0.2 || exit 97
run noquery-check "$2" -H 127.0.0.1 -t 3
run noquery-peers ntpq -n -p 127.0.0.1
raw noquery-writes
kill -INT $dpid
wait $dpid
echo "== daemon"
echo "== exit $?"
exit 0`

// snapshotOf reads the daemon's status over its control socket.
func snapshotOf(sock string) (*ctl.Snapshot, error) {
	c, err := net.DialTimeout("unix", sock, 2*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("snapshot\n")); err != nil {
		return nil, err
	}
	var s ctl.Snapshot
	if err := json.NewDecoder(bufio.NewReader(c)).Decode(&s); err != nil {
		return nil, err
	}
	return &s, nil
}

// toolSections splits the script's output by `== NAME` … `== exit N`.
func toolSections(out string) map[string][2]string {
	m := map[string][2]string{}
	var name string
	var text strings.Builder
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(line, "== exit "):
			m[name] = [2]string{text.String(), strings.TrimPrefix(line, "== exit ")}
			text.Reset()
		case strings.HasPrefix(line, "== "):
			name = strings.TrimPrefix(line, "== ")
		default:
			text.WriteString(line + "\n")
		}
	}
	return m
}

// TestEndToEndMode6: real ntpsec ntpq and check_ntp_peer against
// gpsntpd -sim on port 123 in a network namespace: ntpq -p shows the PPS
// and GPS refclocks as ntpd would, ntpq -c rv the system variables,
// check_ntp_peer is OK with the PPS peer's offset; writes and unknown
// opcodes get at most as many bytes as they sent; from 127.0.0.2
// (noquery) nothing at all comes back.
func TestEndToEndMode6(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: end-to-end mode 6 test (about 40 s)")
	}
	var tools []string
	for _, tool := range []struct{ name, path string }{
		{"ntpq", ""}, {"check_ntp_peer", "/usr/lib/nagios/plugins/check_ntp_peer"},
		{"unshare", ""}, {"setpriv", ""}, {"timeout", ""}, {"python3", ""}, {"ip", "/usr/sbin/ip"},
	} {
		p, err := exec.LookPath(tool.name)
		if err != nil && tool.path != "" {
			if _, err2 := os.Stat(tool.path); err2 == nil {
				p, err = tool.path, nil
			}
		}
		if err != nil {
			t.Skipf("%s not found (ntpq: Debian ntpsec-ntpdate or ntpsec; check_ntp_peer: monitoring-plugins-basic): %v", tool.name, err)
		}
		tools = append(tools, p)
	}
	check, unshare := tools[1], tools[2]
	ns := []string{"--net"}
	if os.Geteuid() != 0 {
		ns = []string{"--user", "--map-root-user", "--net"}
	}
	dir := t.TempDir()
	sock := filepath.Join(dir, "ctl.sock")
	conf := filepath.Join(dir, "gpsntp.conf")
	if err := os.WriteFile(conf, []byte(mode6Conf+"control "+sock+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, unshare, append(ns, "sh", "-c", mode6Script, daemonBinary(t), conf, check, dir)...)
	cmd.WaitDelay = 5 * time.Second
	var outMu sync.Mutex
	var out bytes.Buffer
	cmd.Stdout = lockedWriter{&outMu, &out}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	transcript := func() string {
		outMu.Lock()
		defer outMu.Unlock()
		logb, _ := os.ReadFile(filepath.Join(dir, "daemon.log"))
		return out.String() + "\ndaemon log (tail):\n" + tail(string(logb), 40)
	}

	// Wait until the daemon serves from PPS, with the PPS source marked o.
	var snap *ctl.Snapshot
	for end := time.Now().Add(150 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		s, err := snapshotOf(sock)
		if err == nil && s.Synchronised && s.State == "pps" && len(s.Sources) > 0 && s.Sources[0].Tally == "o" && s.Sources[0].Reach == 0o377 {
			snap = s
			break
		}
		select {
		case err := <-done:
			if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 97 {
				t.Skipf("cannot set up a network namespace here:\n%s", transcript())
			}
			t.Fatalf("namespace script ended early: %v\n%s", err, transcript())
		default:
		}
		if time.Now().After(end) {
			t.Fatalf("daemon not locked to PPS within 150 s (last: %+v, %v)\n%s", s, err, transcript())
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("namespace script: %v\n%s", err, transcript())
	}
	defer func() {
		if t.Failed() {
			t.Logf("transcript:\n%s", transcript())
		}
	}()
	if testing.Verbose() {
		t.Logf("transcript:\n%s", transcript())
	}
	s := toolSections(out.String())
	if s["daemon"][1] != "0" {
		t.Errorf("gpsntpd exit status %s after SIGINT, want 0", s["daemon"][1])
	}

	// ntpq -p: PPS(0) is the PPS peer, GPS_NMEA(0) a candidate, both
	// local refclocks at stratum 0 with full reach.
	rows := map[string][]string{}
	for _, line := range strings.Split(s["peers"][0], "\n") {
		if f := strings.Fields(line); len(f) == 10 {
			rows[f[0]] = f
		}
	}
	for _, w := range [][]string{
		{"oPPS(0)", ".PPS.", "0", "l"},
		{"+GPS_NMEA(0)", ".GPS.", "0", "l"},
	} {
		r := rows[w[0]]
		if r == nil || r[1] != w[1] || r[2] != w[2] || r[3] != w[3] || r[6] != "377" {
			t.Errorf("ntpq -p: row %v, want %v with reach 377", r, w)
		}
	}
	rv := s["rv"][0]
	for _, want := range []string{"leap_none, sync_pps", "stratum=1", "refid=PPS", `version="gpsntpd`, "rootdisp=", "sys_jitter="} {
		if !strings.Contains(rv, want) {
			t.Errorf("ntpq -c rv: no %q", want)
		}
	}
	for _, want := range []string{"pps.peer", "candidate"} {
		if !strings.Contains(s["as"][0], want) {
			t.Errorf("ntpq -c as: no %q", want)
		}
	}

	// check_ntp_peer: OK, with the PPS peer's offset (ntpq's sign: the
	// source minus our clock) from the daemon's own status, which was
	// taken just before.
	c := s["check"]
	m := regexp.MustCompile(`NTP OK: Offset (\S+) secs`).FindStringSubmatch(c[0])
	if c[1] != "0" || m == nil {
		t.Fatalf("check_ntp_peer: exit %s: %s; want 0 and NTP OK", c[1], c[0])
	}
	off, err := strconv.ParseFloat(m[1], 64)
	if want := -snap.Sources[0].OffsetNs / 1e9; err != nil || math.Abs(off-want) > 100e-6 {
		t.Errorf("check_ntp_peer offset %s s, want %.9f ± 100 µs (the PPS source's, from the status)", m[1], want)
	}

	// Writes and unknown opcodes: an error reply no larger than the request
	// from loopback; nothing at all from the noquery address.
	checkRaw := func(section string, wantNone bool) {
		lines := regexp.MustCompile(`op (\d+) sent (\d+) got (\d+)`).FindAllStringSubmatch(s[section][0], -1)
		if len(lines) != 6 {
			t.Errorf("%s: %d opcodes reported, want 6", section, len(lines))
		}
		for _, l := range lines {
			sent, _ := strconv.Atoi(l[2])
			got, _ := strconv.Atoi(l[3])
			if got > sent || wantNone && got != 0 || !wantNone && got != 12 {
				t.Errorf("%s: opcode %s: %d bytes back for %d sent (want %s)", section, l[1], got, sent,
					map[bool]string{true: "none", false: "a 12-byte error"}[wantNone])
			}
		}
	}
	checkRaw("writes", false)
	checkRaw("noquery-writes", true)
	if c := s["noquery-check"]; c[1] == "0" || strings.Contains(c[0], "NTP OK") {
		t.Errorf("check_ntp_peer from 127.0.0.2 (noquery): exit %s: %s; want no answer", c[1], c[0])
	}
	if c := s["noquery-peers"]; strings.Contains(c[0], "PPS(0)") || !strings.Contains(c[0], "timed out") {
		t.Errorf("ntpq -p from 127.0.0.2 (noquery): %s; want a time-out", c[0])
	}
}

// lockedWriter serialises writes from the child's stdout and stderr.
type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}
