//go:build linux

package ntpserve

import (
	"context"
	"encoding/json"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/ntpserve/restrict"
)

// controlTable is the daemon's default access (packaging/gpsntp.conf):
// noquery for everyone, lifted for loopback's 127.0.0.1.
func controlTable(t testing.TB) *restrict.Table {
	var rs []restrict.Rule
	for _, line := range []string{"default nomodify notrap nopeer noquery kod limited", "127.0.0.1", "::1"} {
		r, err := restrict.ParseRestrict(strings.Fields(line))
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	return restrict.NewTable(rs)
}

// Over real UDP: 127.0.0.1 gets the answer, 127.0.0.2 (noquery) gets
// nothing and is counted dropped_query, and a write gets 12 bytes at most.
func TestControlOverUDP(t *testing.T) {
	srv := startServer(t, Config{Restrict: controlTable(t), Control: newFakeControl(time.Now().UnixNano())})
	to := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), srv.port)
	dial := func(from string) *net.UDPConn {
		c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(from), 0)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// readAll collects datagrams until wait passes without one.
	readAll := func(c *net.UDPConn, req []byte, wait time.Duration) [][]byte {
		if _, err := c.WriteToUDPAddrPort(req, to); err != nil {
			t.Fatal(err)
		}
		var out [][]byte
		buf := make([]byte, 2048)
		for {
			c.SetReadDeadline(time.Now().Add(wait))
			n, err := c.Read(buf)
			if err != nil {
				return out
			}
			out = append(out, append([]byte(nil), buf[:n]...))
		}
	}
	lo := dial("127.0.0.1")
	req := ctlReq(2, opReadVar, 42, 0, "stratum,refid,offset")
	frags := readAll(lo, req, 2*time.Second)
	a, err := reassemble(req, frags)
	if err != nil || string(a.data) != "stratum=1, refid=PPS, offset=0.000000\r\n" {
		t.Errorf("readvar from 127.0.0.1: %q, %v", a.data, err)
	}
	for _, op := range []uint8{opWriteVar, opConfigure, opReadMRU, opReqNonce, opSetTrap, 17} {
		req := ctlReq(2, op, 43, 0, "")
		got := readAll(lo, req, time.Second)
		if len(got) > 1 || len(got) == 1 && len(got[0]) > len(req) {
			t.Errorf("op %d: %d replies, first %d bytes, for a %d-byte request", op, len(got), len(got[0]), len(req))
		}
	}
	before := srv.Stats().Outcomes[OutDropQuery]
	if got := readAll(dial("127.0.0.2"), ctlReq(2, opReadStat, 44, 0, ""), 2*time.Second); len(got) != 0 {
		t.Errorf("mode 6 from 127.0.0.2 (noquery): %d replies, want none", len(got))
	}
	if d := srv.Stats().Outcomes[OutDropQuery] - before; d != 1 {
		t.Errorf("dropped_query went up by %d, want 1", d)
	}
}

// TestHelperServeControl is not a test: TestNtpqAndCheckNtpPeer runs the
// test binary again in a network namespace with GPSNTP_TEST_CONTROL set
// to a directory, to serve on 127.0.0.1:123 (ntpq has no port option)
// with the fake associations and the daemon's default access, until
// DIR/stop appears; it then writes its counters to DIR/stats.json.
func TestHelperServeControl(t *testing.T) {
	dir := os.Getenv("GPSNTP_TEST_CONTROL")
	if dir == "" {
		t.Skip("helper process for TestNtpqAndCheckNtpPeer")
	}
	srv := startServer(t, Config{Listen: []string{"127.0.0.1:123"}, Restrict: controlTable(t),
		Control: newFakeControl(time.Now().UnixNano())})
	if err := os.WriteFile(filepath.Join(dir, "ready"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(2 * time.Minute); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(dir, "stop")); err == nil {
			break
		}
	}
	b, _ := json.Marshal(srv.Stats())
	if err := os.WriteFile(filepath.Join(dir, "stats.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// controlScript runs in a fresh network namespace ($0: the test binary,
// $1: check_ntp_peer, $2: working directory): our server on
// 127.0.0.1:123, then ntpq and check_ntp_peer without CAP_SYS_TIME, each
// section headed `== NAME` and ended with its exit status. Then the route
// to 127.0.0.1 takes source address 127.0.0.2 (noquery) and both ask
// again. Everything is bounded by timeout and killed by PID.
const controlScript = `set -u
ip link set lo up || exit 97
ip addr add 127.0.0.2/8 dev lo || exit 97
GPSNTP_TEST_CONTROL="$2" "$0" -test.run='^TestHelperServeControl$' >"$2/serve.log" 2>&1 &
spid=$!
i=0
while [ ! -e "$2/ready" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
run() {
	name=$1; shift
	echo "== $name"
	timeout 30 setpriv --bounding-set -sys_time --inh-caps -sys_time "$@" 2>&1
	echo "== exit $?"
}
run peers ntpq -n -p 127.0.0.1
run rv ntpq -c rv 127.0.0.1
run as ntpq -c as 127.0.0.1
run rv13 ntpq -c "rv 13" 127.0.0.1
run check "$1" -H 127.0.0.1
ip route replace local 127.0.0.1 dev lo table local proto kernel scope host src 127.0.0.2 || exit 97
run noquery-check "$1" -H 127.0.0.1 -t 3
run noquery-peers ntpq -n -p 127.0.0.1
touch "$2/stop"
wait $spid
exit 0`

// sections splits the script's output into each tool's output and exit
// status.
func sections(out string) map[string]struct {
	text string
	exit string
} {
	m := map[string]struct{ text, exit string }{}
	var name string
	var text strings.Builder
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(line, "== exit "):
			m[name] = struct{ text, exit string }{text.String(), strings.TrimPrefix(line, "== exit ")}
			text.Reset()
		case strings.HasPrefix(line, "== "):
			name = strings.TrimPrefix(line, "== ")
		default:
			text.WriteString(line + "\n")
		}
	}
	return m
}

// TestNtpqAndCheckNtpPeer: ntpsec's ntpq (-p, -c rv, -c as) and the
// monitoring plugins' check_ntp_peer read our mode 6 answers as they
// read ntpd's; from a noquery address they get nothing.
func TestNtpqAndCheckNtpPeer(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs ntpq in a network namespace (about 15 s)")
	}
	findTool(t, "ntpq")
	check := findTool(t, "check_ntp_peer", "/usr/lib/nagios/plugins/check_ntp_peer", "/usr/lib/monitoring-plugins/check_ntp_peer")
	unshare := findTool(t, "unshare")
	findTool(t, "setpriv")
	findTool(t, "timeout")
	findTool(t, "ip", "/usr/sbin/ip", "/sbin/ip")
	ns := []string{"--net"}
	if os.Geteuid() != 0 {
		ns = []string{"--user", "--map-root-user", "--net"}
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, unshare, append(ns, "sh", "-c", controlScript, os.Args[0], check, dir)...)
	cmd.WaitDelay = 5 * time.Second
	outb, err := cmd.CombinedOutput()
	out := string(outb)
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 97 {
		t.Skipf("cannot set up a network namespace here:\n%s", out)
	}
	serve, _ := os.ReadFile(filepath.Join(dir, "serve.log"))
	if err != nil {
		t.Fatalf("unshare: %v\n%s\nserver:\n%s", err, out, serve)
	}
	defer func() {
		if t.Failed() {
			t.Logf("transcript:\n%s\nserver:\n%s", out, serve)
		}
	}()
	s := sections(out)

	// ntpq -p: the refclocks by name, typed l, with ntpd's tallies; the
	// server by address; the offset in ntpq's sign.
	rows := map[string]peerLine{}
	for _, line := range strings.Split(s["peers"].text, "\n") {
		if p, ok := parsePeerLine(line); ok {
			rows[p.remote] = p
		}
	}
	for _, w := range []peerLine{
		{'o', "PPS(0)", ".PPS.", 0, 0o377, -0.25},
		{'+', "GPS_NMEA(0)", ".GPS.", 0, 0o376, 12.346},
		{'-', "192.0.2.7", "198.51.100.1", 2, 0o17, -3},
	} {
		g, ok := rows[w.remote]
		if !ok || g.tally != w.tally || g.refid != w.refid || g.stratum != w.stratum || g.reach != w.reach || absf(g.offsetMs-w.offsetMs) > 0.001 {
			t.Errorf("ntpq -p row %s = %+v (found %v), want %+v", w.remote, g, ok, w)
		}
	}
	if !strings.Contains(s["peers"].text, " l ") || !strings.Contains(s["peers"].text, "time.example") {
		t.Errorf("ntpq -p: want refclocks typed l and the unresolved server by name:\n%s", s["peers"].text)
	}
	for _, want := range []string{"status=0115 leap_none, sync_pps, 1 event, clock_sync", "stratum=1", "refid=PPS",
		`version="gpsntpd test"`, "tc=4", "peer=11"} {
		if !strings.Contains(s["rv"].text, want) {
			t.Errorf("ntpq -c rv: no %q in\n%s", want, s["rv"].text)
		}
	}
	for _, want := range []string{"pps.peer", "candidate", "outlier", "reject"} {
		if !strings.Contains(s["as"].text, want) {
			t.Errorf("ntpq -c as: no %q in\n%s", want, s["as"].text)
		}
	}
	if !strings.Contains(s["rv13"].text, "srcadr=192.0.2.7") || !strings.Contains(s["rv13"].text, "delay=20.5") {
		t.Errorf("ntpq -c 'rv 13':\n%s", s["rv13"].text)
	}
	// check_ntp_peer: OK with the system peer's offset, in s.
	if c := s["check"]; c.exit != "0" || !strings.Contains(c.text, "NTP OK: Offset -0.00025 secs") {
		t.Errorf("check_ntp_peer: exit %s: %s; want 0, NTP OK: Offset -0.00025 secs", c.exit, c.text)
	}
	// From 127.0.0.2 (noquery): nothing at all.
	if c := s["noquery-check"]; c.exit == "0" || strings.Contains(c.text, "NTP OK") {
		t.Errorf("check_ntp_peer from a noquery address: exit %s: %s; want no answer", c.exit, c.text)
	}
	if c := s["noquery-peers"]; strings.Contains(c.text, "PPS(0)") || !strings.Contains(c.text, "timed out") {
		t.Errorf("ntpq -p from a noquery address: %s; want a time-out", c.text)
	}
	var st Stats
	if b, err := os.ReadFile(filepath.Join(dir, "stats.json")); err != nil || json.Unmarshal(b, &st) != nil {
		t.Fatalf("server counters: %v", err)
	}
	if st.Outcomes[OutDropQuery] == 0 || st.Outcomes[OutControl] < 8 {
		t.Errorf("server counted control %d, dropped_query %d: want the reads answered and the noquery ones dropped",
			st.Outcomes[OutControl], st.Outcomes[OutDropQuery])
	}
}

func absf(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
