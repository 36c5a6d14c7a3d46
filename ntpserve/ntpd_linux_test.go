//go:build linux

package ntpserve

import (
	"bufio"
	"context"
	"math"
	"math/bits"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ntpdConf makes ntpsec's ntpd a client of our server at 127.0.0.1:123.
// ntpd refuses 127.x servers other than 127.0.0.1 ("attempt to configure
// invalid address"), and our server holds 127.0.0.1:123, so ntpd listens on
// 127.0.0.2 only (no wildcard socket, which would collide with ours).
// minpoll 3 maxpoll 4 and iburst: selected within seconds, reach climbing
// every 8–16 s.
const ntpdConf = `server 127.0.0.1 iburst minpoll 3 maxpoll 4
interface ignore wildcard
interface ignore 127.0.0.1
interface ignore ::1
interface listen 127.0.0.2
restrict default kod limited nomodify nopeer noquery
restrict 127.0.0.0 mask 255.0.0.0
`

// ntpdScript runs inside a fresh network namespace ($0: the test binary,
// $1: ntpd, $2: working directory). It gives lo a second address, 127.0.0.2,
// and makes it the source address for packets to 127.0.0.1 (ntpd picks the
// socket to send from by asking the routing table), starts our server on
// 127.0.0.1:123 (TestHelperServe), then ntpd without CAP_SYS_TIME, and
// prints `ntpq -p` every 2 s until the test creates $2/stop or 100 s pass.
// Everything it starts is bounded in time and killed by PID on the way out.
//
// ntpd runs with -x (slew up to 600 s): the served time is 1.5 s ahead of
// the host clock, which ntpd would otherwise try to step, and a step (even
// a failed one) makes ntpd forget every association and start over.
const ntpdScript = `set -u
ip link set lo up || exit 97
ip addr add 127.0.0.2/8 dev lo || exit 97
ip route replace local 127.0.0.1 dev lo table local proto kernel scope host src 127.0.0.2 || exit 97
GPSNTP_TEST_SERVE=127.0.0.1:123 GPSNTP_TEST_SERVE_FOR=130s "$0" -test.run='^TestHelperServe$' >"$2/serve.log" 2>&1 &
spid=$!
sleep 0.3
timeout 120 setpriv --bounding-set -sys_time --inh-caps -sys_time "$1" -n -x -c "$2/ntp.conf" -l "$2/ntpd.log" &
npid=$!
i=0
while [ $i -lt 50 ] && [ ! -e "$2/stop" ]; do
	sleep 2
	i=$((i+1))
	echo "ntpq t=$((i*2))s"
	ntpq -n -p 127.0.0.2 2>&1
done
kill $npid $spid 2>/dev/null
wait
exit 0`

// TestNtpdSelectsUs: ntpsec's ntpd, as a client of our server, selects it
// as its system peer (`*` in `ntpq -p`), sees the served offset (1.5 s: the
// time came from our Clock, not from the shared kernel clock), and its reach
// register keeps filling. ntpd runs in its own network namespace without
// CAP_SYS_TIME: its attempts to steer the clock fail, and the test checks in
// its log that they did.
func TestNtpdSelectsUs(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the ntpd test takes about 30 s")
	}
	ntpd := findTool(t, "ntpd", "/usr/sbin/ntpd")
	findTool(t, "ntpq")
	unshare := findTool(t, "unshare")
	findTool(t, "setpriv")
	findTool(t, "timeout")
	findTool(t, "ip", "/usr/sbin/ip", "/sbin/ip")
	if out, err := exec.Command(ntpd, "--version").CombinedOutput(); err != nil || !strings.Contains(string(out), "ntpsec") {
		t.Skipf("%s is not ntpsec's ntpd (%v): %s", ntpd, err, out)
	}
	ns := []string{"--net"}
	if os.Geteuid() != 0 {
		ns = []string{"--user", "--map-root-user", "--net"}
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ntp.conf"), []byte(ntpdConf), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	args := append(ns, "sh", "-c", ntpdScript, os.Args[0], ntpd, dir)
	cmd := exec.CommandContext(ctx, unshare, args...)
	cmd.WaitDelay = 5 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}

	var (
		transcript strings.Builder
		reaches    []uint64 // reach registers seen while we were the system peer
		done       bool
	)
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		transcript.WriteString(line + "\n")
		p, ok := parsePeerLine(line)
		if !ok || p.remote != "127.0.0.1" {
			continue
		}
		if p.tally != '*' {
			continue
		}
		if p.refid != ".PPS." || p.stratum != 1 {
			t.Errorf("ntpq -p: %q: want refid .PPS. stratum 1", line)
		}
		if math.Abs(p.offsetMs-float64(servedOffset.Milliseconds())) > 20 {
			t.Errorf("ntpq -p: %q: offset %v ms, want %v", line, p.offsetMs, servedOffset.Milliseconds())
		}
		reaches = append(reaches, p.reach)
		// Done when selected with at least three good polls, after an
		// earlier sample with fewer: reach is climbing.
		if n := bits.OnesCount64(p.reach); n >= 3 && bits.OnesCount64(reaches[0]) < n && !done {
			done = true
			_ = os.WriteFile(filepath.Join(dir, "stop"), nil, 0o644)
		}
	}
	err = cmd.Wait()
	logb, _ := os.ReadFile(filepath.Join(dir, "ntpd.log"))
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 97 {
		t.Skipf("cannot set up a network namespace here:\n%s", transcript.String())
	}
	if err != nil {
		t.Errorf("unshare: %v", err)
	}
	if !done {
		serve, _ := os.ReadFile(filepath.Join(dir, "serve.log"))
		t.Fatalf("ntpd did not select our server with a climbing reach (reach while selected: %o)\n%s\nntpd log:\n%s\nserver:\n%s",
			reaches, transcript.String(), logb, serve)
	}
	// Safety, and proof the setup means what it says: ntpd tried to steer
	// the clock and was refused.
	if !strings.Contains(string(logb), "Operation not permitted") {
		t.Errorf("ntpd log shows no refused clock adjustment (was CAP_SYS_TIME really dropped?):\n%s", logb)
	}
	t.Logf("ntpd selected us; reach while selected: %o", reaches)
}

// peerLine is one row of `ntpq -p -n`.
type peerLine struct {
	tally    byte // '*' system peer, '+' candidate, ' ' …
	remote   string
	refid    string
	stratum  int
	reach    uint64 // the reach register (printed in octal)
	offsetMs float64
}

// parsePeerLine parses
//
//	*127.0.0.1       .PPS.            1 u    1    8    1   0.0512 1500.014   0.0018
//
// (remote refid st t when poll reach delay offset jitter).
func parsePeerLine(line string) (peerLine, bool) {
	var p peerLine
	if len(line) < 2 {
		return p, false
	}
	p.tally = line[0]
	f := strings.Fields(line[1:])
	if len(f) != 10 {
		return p, false
	}
	var err1, err2, err3 error
	p.remote, p.refid = f[0], f[1]
	p.stratum, err1 = strconv.Atoi(f[2])
	p.reach, err2 = strconv.ParseUint(f[6], 8, 16)
	p.offsetMs, err3 = strconv.ParseFloat(f[8], 64)
	return p, err1 == nil && err2 == nil && err3 == nil
}

func TestParsePeerLine(t *testing.T) {
	for _, tc := range []struct {
		line string
		want peerLine
		ok   bool
	}{
		{"*127.0.0.1       .PPS.            1 u    1    8   17   0.0512 1500.014   0.0018",
			peerLine{'*', "127.0.0.1", ".PPS.", 1, 0o17, 1500.014}, true},
		{" 127.0.0.1       .INIT.          16 u    -    8    0   0.0000   0.0000   0.0001",
			peerLine{' ', "127.0.0.1", ".INIT.", 16, 0, 0}, true},
		{"     remote           refid      st t when poll reach   delay   offset   jitter", peerLine{}, false},
		{"===============================================================================", peerLine{}, false},
	} {
		got, ok := parsePeerLine(tc.line)
		if ok != tc.ok || ok && got != tc.want {
			t.Errorf("parsePeerLine(%q) = %+v, %v; want %+v, %v", tc.line, got, ok, tc.want, tc.ok)
		}
	}
}
