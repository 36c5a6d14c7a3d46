//go:build linux

package ntpserve

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/beevik/ntp"
	"golang.org/x/sys/unix"

	"github.com/gpsntp/gpsntp/discipline"
	"github.com/gpsntp/gpsntp/ntpserve/restrict"
)

// servedOffset is how far the fake clock's served time is ahead of the host
// clock: a client that reports this offset got its time from Clock, not
// from the kernel clock.
const servedOffset = 1500 * time.Millisecond

type testServer struct {
	*Server
	clk  *fakeClock
	ref  *atomic.Pointer[discipline.Reference]
	port uint16
}

// startServer serves cfg until the test ends. busyRate, if given, is the
// workers' (see Server.setBusyRate): 0 blocks always, math.MaxInt never.
func startServer(t *testing.T, cfg Config, busyRate ...int) *testServer {
	t.Helper()
	clk := &fakeClock{offsetNs: int64(servedOffset)}
	if cfg.Clock == nil {
		cfg.Clock = clk
	}
	if cfg.Ref == nil {
		cfg.Ref = refPtr(syncedRef(time.Now().UnixNano() + int64(servedOffset) - 3*sec))
	}
	if cfg.Listen == nil {
		cfg.Listen = []string{"127.0.0.1:0"}
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	for _, r := range busyRate {
		s.setBusyRate(r)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("Serve did not return after cancel")
		}
	})
	return &testServer{Server: s, clk: clk, ref: cfg.Ref, port: s.Addrs()[0].Port()}
}

func TestBeevikQuery(t *testing.T) {
	s := startServer(t, Config{Listen: []string{"127.0.0.1:0", "[::1]:0"}, Workers: 2})
	for _, ap := range s.Addrs() {
		before := time.Now().UnixNano()
		resp, err := ntp.QueryWithOptions(ap.Addr().String(), ntp.QueryOptions{Port: int(ap.Port()), Timeout: 2 * time.Second})
		after := time.Now().UnixNano()
		if err != nil {
			t.Fatalf("Query %s: %v", ap, err)
		}
		if err := resp.Validate(); err != nil {
			t.Errorf("Query %s: Validate() = %v, want nil", ap, err)
		}
		if d := resp.ClockOffset - servedOffset; d.Abs() > 20*time.Millisecond {
			t.Errorf("Query %s: ClockOffset = %v, want %v (served = realtime + offset)", ap, resp.ClockOffset, servedOffset)
		}
		if resp.Stratum != 1 || resp.ReferenceString() != ".PPS." || resp.Leap != ntp.LeapNoWarning {
			t.Errorf("Query %s: stratum %d refid %q leap %d, want 1 PPS 0", ap, resp.Stratum, resp.ReferenceString(), resp.Leap)
		}
		if resp.RTT < 0 || resp.RTT > 50*time.Millisecond {
			t.Errorf("Query %s: RTT = %v", ap, resp.RTT)
		}
		// The receive timestamp came from the kernel, through Map.
		if m := s.clk.lastMap.Load(); m < before || m > after {
			t.Errorf("Query %s: Clock.Map(%d), want a kernel receive time within [%d, %d]", ap, m, before, after)
		}
		// Root dispersion honest: 2 µs + ~3 s × 15 ppm ≈ 47 µs.
		if rd := resp.RootDispersion; rd < 40*time.Microsecond || rd > 200*time.Microsecond {
			t.Errorf("Query %s: RootDispersion = %v, want ≈ 47 µs", ap, rd)
		}
	}
	st := s.Stats()
	if st.Received != 2 || st.Outcomes[OutReply] != 2 {
		t.Errorf("Stats = %+v, want 2 received, 2 replied", st)
	}
}

func TestBeevikRefusesUnsynchronised(t *testing.T) {
	unsync := syncedRef(time.Now().UnixNano())
	unsync.Synchronised, unsync.State, unsync.Leap = false, discipline.Unsynchronised, discipline.LeapAlarm
	for _, tc := range []struct {
		name string
		ref  *discipline.Reference
	}{{"nil reference", nil}, {"unsynchronised", unsync}} {
		p := refPtr(tc.ref)
		s := startServer(t, Config{Ref: p})
		resp, err := ntp.QueryWithOptions("127.0.0.1", ntp.QueryOptions{Port: int(s.port), Timeout: 2 * time.Second})
		if err != nil {
			t.Fatalf("%s: Query: %v", tc.name, err)
		}
		if err := resp.Validate(); err == nil {
			t.Errorf("%s: Validate() = nil, want an error (LI %d stratum %d)", tc.name, resp.Leap, resp.Stratum)
		}
		if resp.Leap != ntp.LeapNotInSync || resp.Stratum != 0 {
			t.Errorf("%s: leap %d stratum %d, want 3 and 0", tc.name, resp.Leap, resp.Stratum)
		}
		// Synchronising later is picked up at the next packet (one atomic load).
		p.Store(syncedRef(time.Now().UnixNano()))
		resp, err = ntp.QueryWithOptions("127.0.0.1", ntp.QueryOptions{Port: int(s.port), Timeout: 2 * time.Second})
		if err != nil || resp.Validate() != nil {
			t.Errorf("%s, then synchronised: Query err %v, Validate %v", tc.name, err, resp.Validate())
		}
		if st := s.Stats(); st.Outcomes[OutReplyUnsync] != 1 || st.Outcomes[OutReply] != 1 {
			t.Errorf("%s: Stats = %+v, want 1 unsync reply and 1 reply", tc.name, st)
		}
	}
}

// exchange sends req from c to the server and returns the reply, or nil on
// timeout.
func exchange(t *testing.T, c *net.UDPConn, to netip.AddrPort, req []byte, wait time.Duration) []byte {
	t.Helper()
	if _, err := c.WriteToUDPAddrPort(req, to); err != nil {
		t.Fatalf("write: %v", err)
	}
	buf := make([]byte, 1024)
	_ = c.SetReadDeadline(time.Now().Add(wait))
	n, _, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil
		}
		t.Fatalf("read: %v", err)
	}
	return buf[:n]
}

func TestServerDropsAndCounts(t *testing.T) {
	rules := []restrict.Rule{}
	for _, l := range []string{"default kod limited nopeer noquery", "127.0.0.2 ignore"} {
		r, err := restrict.ParseRestrict(strings.Fields(l))
		if err != nil {
			t.Fatal(err)
		}
		rules = append(rules, r)
	}
	s := startServer(t, Config{Restrict: restrict.NewTable(rules)})
	to := s.Addrs()[0]
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	drops := []struct {
		name string
		req  []byte
	}{
		{"empty", []byte{}},
		{"short", make([]byte, 47)},
		{"mode 6", request(2, ModeControl, 0, 1)},
		{"mode 7 monlist", append(request(2, ModePrivate, 0, 1), make([]byte, 100)...)},
		{"version 5", request(5, ModeClient, 0, 1)},
		{"mode 1, nopeer", request(4, ModeSymActive, 0, 1)},
		{"mode 5", request(4, ModeBroadcast, 0, 1)},
	}
	for _, d := range drops {
		if r := exchange(t, c, to, d.req, 100*time.Millisecond); r != nil {
			t.Errorf("%s: got a %d-byte reply, want none", d.name, len(r))
		}
	}
	// A request with a MAC: answered, with a plain 48-byte reply.
	if r := exchange(t, c, to, append(request(4, ModeClient, 6, 7), make([]byte, 24)...), time.Second); len(r) != HeaderLen {
		t.Errorf("request with MAC: reply %d bytes, want 48", len(r))
	}
	// An ignored source gets nothing.
	c2, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if r := exchange(t, c2, to, request(4, ModeClient, 6, 7), 100*time.Millisecond); r != nil {
		t.Errorf("ignored source: got a reply")
	}
	st := s.Stats()
	want := Stats{Received: 9}
	want.Outcomes[OutReply] = 1
	want.Outcomes[OutDropMalformed] = 2
	want.Outcomes[OutDropQuery] = 2
	want.Outcomes[OutDropVersion] = 1
	want.Outcomes[OutDropPeer] = 1
	want.Outcomes[OutDropMode] = 1
	want.Outcomes[OutDropRestrict] = 1
	if st != want {
		t.Errorf("Stats = %+v\nwant    %+v", st, want)
	}
}

// allocsPerRun is testing.AllocsPerRun without its GOMAXPROCS(1): a worker
// blocked in recvmmsg holds its P, and with a single P the client's
// goroutine would wait for sysmon to take it back (up to 10 ms an
// exchange). Like AllocsPerRun it counts every goroutine's allocations,
// the server's included, and returns the integer average: the runtime's
// own now and then (a new M; a switch between ways of waiting allocates
// an os.File, at most once per rateWindow) are not the reply path's.
func allocsPerRun(runs int, f func()) float64 {
	f()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		f()
	}
	runtime.ReadMemStats(&after)
	return float64((after.Mallocs - before.Mallocs) / uint64(runs))
}

// TestServerAllocs proves the steady-state serving path allocates nothing,
// whichever way the worker waits: AllocsPerRun counts every goroutine's
// allocations, the server's included.
func TestServerAllocs(t *testing.T) {
	for _, tc := range []struct {
		name     string
		busyRate int
	}{
		{"blocking", 0},
		{"polled", 1 << 30},
		{"adaptive", busyRateDefault},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, Config{Workers: 1}, tc.busyRate)
			to := s.Addrs()[0]
			c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			exch := exchanger(t, c, to)
			_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
			for range 100 {
				exch() // warm up
			}
			if a := allocsPerRun(2000, exch); a != 0 {
				t.Errorf("allocations per request/reply = %v, want 0", a)
			}
			if st := s.Stats(); st.Outcomes[OutReply] != 2101 {
				t.Errorf("Replied = %d, want 2101", st.Outcomes[OutReply])
			}
		})
	}
}

// TestWorkerSwitchesWaiting: a worker starts parked in the poller, blocks
// in recvmmsg while requests come faster than busyRate, and goes back to
// the poller when they stop, answering every request on the way. While it
// blocks at 10 times the busy rate, its thread runs SCHED_BATCH at
// BusyNice (priority_linux.go), and no thread does before or after.
func TestWorkerSwitchesWaiting(t *testing.T) {
	const busyNice = -3
	s := startServer(t, Config{Workers: 1, BusyNice: busyNice}, 500)
	w := s.workers[0]
	to := s.Addrs()[0]
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ask := func(n int) {
		t.Helper()
		for i := range n {
			if r := exchange(t, c, to, request(4, ModeClient, 6, Timestamp(i+1)), time.Second); len(r) != HeaderLen {
				t.Fatalf("request %d: no reply", i)
			}
		}
	}
	waitFor := func(blocking bool, what string) {
		t.Helper()
		for deadline := time.Now().Add(3 * time.Second); w.blocking.Load() != blocking; {
			if time.Now().After(deadline) {
				t.Fatalf("%s: blocking = %v, want %v", what, !blocking, blocking)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	raised := func(what string, want int) {
		t.Helper()
		if s.Stats().BusyNiceRefused > 0 && want > 0 {
			if unix.Geteuid() == 0 {
				t.Errorf("%s: setting nice %d refused to root", what, busyNice)
			}
			return // not root and no RLIMIT_NICE: refused, and counted
		}
		if got := threadsAt(t, busyNice, unix.SCHED_BATCH); got != want {
			t.Errorf("%s: %d threads SCHED_BATCH at nice %d, want %d", what, got, busyNice, want)
		}
	}
	waitFor(false, "at start")
	raised("at start", 0)
	ask(1)
	if w.blocking.Load() {
		t.Errorf("after one request: blocking, want polled")
	}
	// Back-to-back exchanges on loopback: thousands a second.
	deadline := time.Now().Add(3 * time.Second)
	for !w.blocking.Load() && time.Now().Before(deadline) {
		ask(50)
	}
	waitFor(true, "after a burst")
	// From raiseFactor times the busy rate, the thread is raised: 16
	// requests in flight at a time, for a rate well above that even on a
	// loaded machine.
	burst := func() {
		t.Helper()
		for i := range 16 {
			if _, err := c.WriteToUDPAddrPort(request(4, ModeClient, 6, Timestamp(i+1)), to); err != nil {
				t.Fatal(err)
			}
		}
		buf := make([]byte, 1024)
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		for range 16 {
			if _, _, err := c.ReadFromUDPAddrPort(buf); err != nil {
				t.Fatalf("burst: %v", err)
			}
		}
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) &&
		threadsAt(t, busyNice, unix.SCHED_BATCH) == 0 && s.Stats().BusyNiceRefused == 0; {
		for range 10 {
			burst()
		}
	}
	raised("while blocking", 1)
	waitFor(false, "after the burst") // within a rate window or two
	ask(1)
	raised("polled again", 0)
	ask(3)
	if st := s.Stats(); st.Received != st.Outcomes[OutReply] {
		t.Errorf("Stats = %+v: not every request answered", st)
	}
}

// TestThousandSources: 1,000 distinct 127.x addresses each poll like a
// pool monitor (3 queries 2 s apart, compressed to no wait since the first
// three always pass) through `limited kod`, plus a hammering client: every
// source is answered, the hammerer is cut off with one KoD.
func TestThousandSources(t *testing.T) {
	r, err := restrict.ParseRestrict(strings.Fields("default kod limited nomodify notrap nopeer noquery"))
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, Config{Restrict: restrict.NewTable([]restrict.Rule{r}), Workers: 2})
	to := s.Addrs()[0]
	const n = 1000
	conns := make([]*net.UDPConn, n)
	for i := range conns {
		ip := net.IPv4(127, 1, byte(i>>8), byte(i))
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: ip})
		if err != nil {
			t.Fatalf("bind %v: %v", ip, err)
		}
		defer c.Close()
		conns[i] = c
	}
	got := 0
	buf := make([]byte, 512)
	for i, c := range conns {
		if _, err := c.WriteToUDPAddrPort(request(4, ModeClient, 6, Timestamp(i+1)), to); err != nil {
			t.Fatal(err)
		}
		if i%50 == 49 || i == n-1 { // collect in windows to stay within socket buffers
			for _, c := range conns[i-i%50 : i+1] {
				_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
				m, _, err := c.ReadFromUDPAddrPort(buf)
				if err == nil && m == HeaderLen && buf[1] == 1 {
					got++
				}
			}
		}
	}
	if got != n {
		t.Errorf("%d of %d sources answered", got, n)
	}
	// The hammerer: 300 back-to-back queries.
	h := conns[0]
	kod, replies := 0, 0
	for i := range 300 {
		if _, err := h.WriteToUDPAddrPort(request(4, ModeClient, 0, Timestamp(1000+i)), to); err != nil {
			t.Fatal(err)
		}
	}
	_ = h.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	for {
		m, _, err := h.ReadFromUDPAddrPort(buf)
		if err != nil {
			break
		}
		var hd Header
		_ = hd.Decode(buf[:m])
		if hd.Stratum == 0 && string(hd.RefID[:]) == "RATE" {
			kod++
		} else {
			replies++
		}
	}
	if kod != 1 || replies > 2 {
		t.Errorf("hammerer: %d replies, %d KoD; want ≤ 2 replies and exactly 1 KoD", replies, kod)
	}
	st := s.Stats()
	if st.Outcomes[OutReply]+st.Outcomes[OutKoD]+st.Outcomes[OutDropRate] != st.Received || st.Outcomes[OutDropRate] < 290 {
		t.Errorf("Stats = %+v: outcomes do not add up or hammerer not dropped", st)
	}
	// The operator's view: the hammerer on top, with its KoD; then
	// clients with one packet each.
	top := s.TopClients(5)
	if len(top) != 5 {
		t.Fatalf("TopClients(5) = %+v, want 5", top)
	}
	if h := top[0]; h.Addr != netip.MustParseAddr("127.1.0.0") || h.Packets != 301 || h.KoD != 1 || h.Limited < 290 {
		t.Errorf("TopClients(5)[0] = %+v, want 127.1.0.0 with 301 packets, 1 KoD, ≥ 290 limited", h)
	}
	for _, c := range top[1:] {
		if c.Packets != 1 || c.Limited != 0 || time.Since(c.LastSeen).Abs() > time.Minute {
			t.Errorf("TopClients: %+v, want one recent packet, not limited", c)
		}
	}
}

// findTool returns the path of a client binary or skips.
func findTool(t *testing.T, name string, alts ...string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, a := range alts {
		if _, err := os.Stat(a); err == nil {
			return a
		}
	}
	t.Skipf("%s not found on PATH or in %v: skipping the real-client test", name, alts)
	return ""
}

// noClockCaps runs a real client with CAP_SYS_TIME removed from its bounding
// and inheritable sets: whatever it tries, it cannot change this machine's
// clock.
func noClockCaps(t *testing.T, ctx context.Context, argv ...string) *exec.Cmd {
	t.Helper()
	setpriv := findTool(t, "setpriv")
	args := append([]string{"--bounding-set", "-sys_time", "--inh-caps", "-sys_time"}, argv...)
	return exec.CommandContext(ctx, setpriv, args...)
}

// chronydArgs returns chronyd's arguments for a measure-only run (-Q: never
// set the clock) against our server on port, giving up after timeoutS.
// Running as root, chronyd would switch to its own user, which a build
// machine may not have: stay root (and without CAP_SYS_TIME).
func chronydArgs(chronyd string, port uint16, timeoutS int) []string {
	args := []string{chronyd, "-Q", "-f", "/dev/null", "-t", strconv.Itoa(timeoutS)}
	if os.Geteuid() == 0 {
		args = append(args, "-u", "root")
	}
	return append(args, fmt.Sprintf("server 127.0.0.1 port %d iburst maxsamples 1", port))
}

func TestChronydAcceptsOffset(t *testing.T) {
	chronyd := findTool(t, "chronyd", "/tmp/chrony/usr/sbin/chronyd")
	s := startServer(t, Config{Listen: []string{"127.0.0.1:0"}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// -Q: measure only, never set the clock; -f /dev/null: no config file;
	// -t 10: give up after 10 s.
	cmd := noClockCaps(t, ctx, chronydArgs(chronyd, s.port, 10)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("chronyd -Q: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`System clock wrong by (-?[0-9.]+) seconds`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("chronyd -Q did not report an offset:\n%s", out)
	}
	wrong, _ := strconv.ParseFloat(string(m[1]), 64)
	// chronyd reports how far the local clock is behind the server: our
	// served time is realtime + 1.5 s, so "wrong by 1.5".
	if math.Abs(wrong-servedOffset.Seconds()) > 0.02 {
		t.Errorf("chronyd: System clock wrong by %v s, want %v", wrong, servedOffset.Seconds())
	}
	t.Logf("chronyd -Q: %s", bytes.TrimSpace(m[0]))
}

func TestChronydRefusesUnsynchronised(t *testing.T) {
	chronyd := findTool(t, "chronyd", "/tmp/chrony/usr/sbin/chronyd")
	s := startServer(t, Config{Ref: refPtr(nil)})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := noClockCaps(t, ctx, chronydArgs(chronyd, s.port, 4)...)
	out, _ := cmd.CombinedOutput()
	if bytes.Contains(out, []byte("System clock wrong by")) {
		t.Errorf("chronyd accepted an unsynchronised server:\n%s", out)
	}
	if st := s.Stats(); st.Outcomes[OutReplyUnsync] == 0 {
		t.Errorf("chronyd sent nothing (Stats %+v): the test proves nothing", st)
	}
}

func TestRdate(t *testing.T) {
	rdate := findTool(t, "rdate")
	s := startServer(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// -p: print only, never set.
	out, err := noClockCaps(t, ctx, rdate, "-n", "-p", "-o", strconv.Itoa(int(s.port)), "127.0.0.1").CombinedOutput()
	if err != nil {
		t.Fatalf("rdate: %v\n%s", err, out)
	}
	// "Thu Nov 26 01:46:35 UTC 2026" (ctime with the zone), possibly
	// after a "rdate: [host]\t" prefix.
	sc := bufio.NewScanner(bytes.NewReader(out))
	var got time.Time
	for sc.Scan() {
		line := sc.Text()
		if i := strings.LastIndex(line, "\t"); i >= 0 {
			line = line[i+1:]
		}
		for _, layout := range []string{"Mon Jan _2 15:04:05 MST 2006", "Mon Jan _2 15:04:05 2006"} {
			if tm, err := time.ParseInLocation(layout, strings.TrimSpace(line), time.Local); err == nil {
				got = tm
			}
		}
	}
	if got.IsZero() {
		t.Fatalf("rdate output not understood:\n%s", out)
	}
	// rdate prints whole seconds (truncated): got is in (want-1 s, want].
	want := time.Now().Add(servedOffset)
	if d := got.Sub(want); d < -1100*time.Millisecond || d > 100*time.Millisecond {
		t.Errorf("rdate printed %v, want %v truncated to the second", got, want)
	}
	if st := s.Stats(); st.Outcomes[OutReply] != 1 {
		t.Errorf("Stats = %+v, want 1 reply", st)
	}
}

// TestHelperServe is not a test: TestNtpdig and TestNtpdSelectsUs run the
// test binary again inside a new network namespace with GPSNTP_TEST_SERVE
// set, to serve on port 123, which ntpdig and ntpd insist on.
// GPSNTP_TEST_SERVE_FOR (a duration, default 15s) bounds how long it serves.
func TestHelperServe(t *testing.T) {
	addr := os.Getenv("GPSNTP_TEST_SERVE")
	if addr == "" {
		t.Skip("helper process for TestNtpdig")
	}
	clk := &fakeClock{offsetNs: int64(servedOffset)}
	s, err := New(Config{Listen: []string{addr}, Clock: clk,
		Ref: refPtr(syncedRef(time.Now().UnixNano() + int64(servedOffset)))})
	if err != nil {
		t.Fatal(err)
	}
	d := 15 * time.Second
	if v, err := time.ParseDuration(os.Getenv("GPSNTP_TEST_SERVE_FOR")); err == nil && v > 0 && v < 10*time.Minute {
		d = v
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := s.Serve(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestNtpdig(t *testing.T) {
	ntpdig := findTool(t, "ntpdig")
	unshare := findTool(t, "unshare")
	findTool(t, "ip", "/usr/sbin/ip", "/sbin/ip")
	ns := []string{"--net"}
	if os.Geteuid() != 0 {
		ns = []string{"--user", "--map-root-user", "--net"}
	}
	// In a private network namespace (our own loopback, nothing else):
	// bring lo up, serve on 127.0.0.1:123, ask ntpdig (without
	// CAP_SYS_TIME; it only prints anyway) until the server is up.
	script := `ip link set lo up || exit 97
GPSNTP_TEST_SERVE=127.0.0.1:123 "$0" -test.run='^TestHelperServe$' >/dev/null 2>&1 &
pid=$!
for i in 1 2 3 4 5 6 7 8 9 10; do
	if out=$(setpriv --bounding-set -sys_time --inh-caps -sys_time "$1" -j -t 1 127.0.0.1 2>&1); then
		echo "$out"; kill $pid; exit 0
	fi
	sleep 0.3
done
echo "$out"; kill $pid; exit 1`
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args := append(ns, "sh", "-c", script, os.Args[0], ntpdig)
	out, err := exec.CommandContext(ctx, unshare, args...).CombinedOutput()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 97 || bytes.Contains(out, []byte("Operation not permitted")) {
			t.Skipf("cannot set up a network namespace here: %s", out)
		}
		t.Fatalf("ntpdig in a network namespace: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`"offset":\s*(-?[0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("ntpdig output has no offset:\n%s", out)
	}
	off, _ := strconv.ParseFloat(string(m[1]), 64)
	if math.Abs(off-servedOffset.Seconds()) > 0.02 {
		t.Errorf("ntpdig offset = %v s, want %v", off, servedOffset.Seconds())
	}
	if !bytes.Contains(out, []byte(`"stratum":1`)) {
		t.Errorf("ntpdig: want stratum 1 in %s", out)
	}
	t.Logf("ntpdig: %s", bytes.TrimSpace(out))
}

// TestWildcardRepliesFromDestination: on a wildcard socket the reply must
// leave from the address the client asked, or a connected client (beevik,
// chronyd) never sees it. On loopback, routing alone would answer a query
// to 127.0.0.2 from 127.0.0.1.
func TestWildcardRepliesFromDestination(t *testing.T) {
	s := startServer(t, Config{Listen: []string{"0.0.0.0:0", "[::]:0"}})
	for _, ap := range []netip.AddrPort{
		netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), s.Addrs()[0].Port()),
		netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), s.Addrs()[0].Port()),
		netip.AddrPortFrom(netip.MustParseAddr("::1"), s.Addrs()[1].Port()),
	} {
		resp, err := ntp.QueryWithOptions(ap.Addr().String(), ntp.QueryOptions{Port: int(ap.Port()), Timeout: time.Second,
			LocalAddress: map[bool]string{true: "127.0.0.1", false: "::1"}[ap.Addr().Is4()]})
		if err != nil {
			t.Errorf("Query %s: %v", ap, err)
			continue
		}
		if err := resp.Validate(); err != nil {
			t.Errorf("Query %s: Validate() = %v", ap, err)
		}
	}
}

// TestCloseWithoutServe: Close releases the sockets of a Server that never
// served (a plain socket without SO_REUSEPORT can take the port again), and
// Serve after Close returns at once.
func TestCloseWithoutServe(t *testing.T) {
	s, err := New(Config{Listen: []string{"127.0.0.1:0"}, Clock: &fakeClock{}, Ref: refPtr(nil), Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	ap := s.Addrs()[0]
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(ap))
	if err != nil {
		t.Fatalf("port %d still held after Close: %v", ap.Port(), err)
	}
	c.Close()
	if err := s.Serve(context.Background()); err != nil {
		t.Errorf("Serve after Close = %v, want nil", err)
	}
}

// TestSetAccess swaps the access control of a running server over real UDP:
// a client denied by `restrict 127.0.0.2 ignore` is answered once the table
// without that line is in place, and denied again after the reverse swap;
// the discard limits swap with it; no restart, and still no allocation per
// reply.
func TestSetAccess(t *testing.T) {
	table := func(lines ...string) *restrict.Table {
		var rules []restrict.Rule
		for _, l := range lines {
			r, err := restrict.ParseRestrict(strings.Fields(l))
			if err != nil {
				t.Fatalf("ParseRestrict(%q): %v", l, err)
			}
			rules = append(rules, r)
		}
		return restrict.NewTable(rules)
	}
	deny := table("default nomodify notrap nopeer noquery", "127.0.0.2 ignore")
	allow := table("default nomodify notrap nopeer noquery")
	// Polled throughout: no switch between ways of waiting (os.NewFile allocates).
	s := startServer(t, Config{Restrict: deny, Workers: 1}, math.MaxInt)
	to := s.Addrs()[0]
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	answered := func(xmt Timestamp, wait time.Duration) bool {
		r := exchange(t, c, to, request(4, ModeClient, 6, xmt), wait)
		return len(r) == HeaderLen && binary.BigEndian.Uint64(r[24:32]) == uint64(xmt)
	}
	steps := []struct {
		name  string
		table *restrict.Table
		want  bool
	}{
		{"before any swap, 127.0.0.2 ignore", nil, false},
		{"swapped to a table without it", allow, true},
		{"swapped back", deny, false},
		{"swapped to nil (serve everyone)", nil, true},
	}
	xmt := Timestamp(1)
	for i, st := range steps {
		if i > 0 {
			s.SetAccess(st.table, nil)
		}
		wait := time.Second
		if !st.want {
			wait = 200 * time.Millisecond
		}
		xmt++
		if got := answered(xmt, wait); got != st.want {
			t.Errorf("%s: answered = %v, want %v", st.name, got, st.want)
		}
	}
	if st := s.Stats(); st.Outcomes[OutDropRestrict] != 2 || st.Outcomes[OutReply] != 2 {
		t.Errorf("Stats = %+v, want 2 dropped by restrict, 2 replied", st)
	}

	// The discard limits swap too, the clients' buckets stay: with average
	// 0 and minimum 0 a back-to-back client is never limited; back to
	// ntpd's defaults, its next packet is over the minimum spacing and,
	// with `kod`, gets a KoD RATE.
	s.SetAccess(table("default kod limited"), &restrict.Discard{AverageLog2: 0, MinimumS: 0})
	for range 20 {
		xmt++
		if !answered(xmt, time.Second) {
			t.Fatalf("discard average 0 minimum 0: back-to-back request %d not answered", xmt)
		}
	}
	s.SetAccess(table("default kod limited"), nil)
	xmt++
	r := exchange(t, c, to, request(4, ModeClient, 6, xmt), time.Second)
	if len(r) != HeaderLen || r[1] != 0 || string(r[12:16]) != "RATE" || binary.BigEndian.Uint64(r[24:32]) != uint64(xmt) {
		t.Errorf("default discard after 20 back-to-back requests: reply % x, want a KoD RATE echoing %#x", r, uint64(xmt))
	}

	// Still no allocation per reply after the swaps.
	s.SetAccess(allow, nil)
	exch := exchanger(t, c, to)
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	exch()
	if a := allocsPerRun(500, exch); a != 0 {
		t.Errorf("allocations per request/reply after SetAccess = %v, want 0", a)
	}
}

// exchanger returns a request/reply exchange with the server at to over c
// that allocates nothing in the test itself (buffers made once), for the
// allocation counts.
func exchanger(t *testing.T, c *net.UDPConn, to netip.AddrPort) func() {
	req, buf := request(4, ModeClient, 6, 1), make([]byte, 512)
	return func() {
		if _, err := c.WriteToUDPAddrPort(req, to); err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.ReadFromUDPAddrPort(buf); err != nil {
			t.Fatal(err)
		}
	}
}

// threadsAt counts this process's threads whose nice value and scheduling
// policy are nice and policy (proc(5): /proc/self/task/*/stat, fields 19
// and 41).
func threadsAt(t *testing.T, nice, policy int) int {
	t.Helper()
	stats, err := filepath.Glob("/proc/self/task/*/stat")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // the thread has exited
		}
		// The command name, field 2, is in parentheses and may hold
		// spaces: count from the last ')', which is followed by field 3.
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) < 39 {
			t.Fatalf("%s: %d fields after the name", p, len(f))
		}
		if f[19-3] == strconv.Itoa(nice) && f[41-3] == strconv.Itoa(policy) {
			n++
		}
	}
	return n
}
