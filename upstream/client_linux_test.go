//go:build linux

package upstream

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beevik/ntp"
	"github.com/gpsntp/gpsntp/config"
	"github.com/gpsntp/gpsntp/discipline"
	"github.com/gpsntp/gpsntp/ntpserve"
)

// The upstreams of these tests are real gpsntpd -sim daemons (the binary
// built once, without cgo, as shipped), a real chronyd, and small fake
// servers on real loopback sockets. The client measures against a Soft
// clock with no correction: host time. Nothing here steers a clock.

var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// gpsntpd builds cmd/gpsntpd once for the whole run.
func gpsntpd(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "upstream-gpsntpd")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "gpsntpd")
		cmd := exec.Command("go", "build", "-o", binPath, "../cmd/gpsntpd")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func freePort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// startSim starts a gpsntpd -sim serving host time + offset on loopback
// and waits until it serves synchronised time; stopped (by PID) at the
// end of the test.
func startSim(t *testing.T, offset time.Duration) int {
	t.Helper()
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(gpsntpd(t), "-sim", "-sim-offset", offset.String(), "-listen", addr, "-control", "none", "-status-interval", "0")
	startProcess(t, "gpsntpd "+addr, cmd)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		r, err := ntp.QueryWithOptions(addr, ntp.QueryOptions{Timeout: time.Second})
		if err == nil && r.Validate() == nil && r.Stratum == 1 {
			return port
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatalf("gpsntpd -sim at %s not synchronised within 60 s", addr)
	return 0
}

// logBuffer collects the client's log.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// runClient starts a client with poll times scaled by unit (a second of
// poll time lasts unit) and stops it at the end of the test; Run must
// return nil.
func runClient(t *testing.T, cfg Config, unit time.Duration) (*Client, *logBuffer) {
	t.Helper()
	cfg.pollUnit = unit
	lb := &logBuffer{}
	c, err := New(cfg, discipline.NewSoft(nil), slog.New(slog.NewTextHandler(lb, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run = %v, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Run did not return within 10 s of the cancel")
		}
		c.Close()
		if t.Failed() {
			t.Logf("client log:\n%s", lb.String())
			for _, s := range c.Status() {
				t.Logf("status %+v", s)
			}
		}
	})
	return c, lb
}

func server(port int, opts ...string) config.Upstream {
	u := config.Upstream{Host: "127.0.0.1", Port: port, MinPoll: 6, MaxPoll: 10}
	for _, o := range opts {
		switch o {
		case "iburst":
			u.IBurst = true
		case "noselect":
			u.NoSelect = true
		}
	}
	return u
}

// waitFor polls cond every 100 ms until it holds or limit passes.
func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: not within %v", what, limit)
}

func statusOf(c *Client, port int) SourceStatus {
	for _, s := range c.Status() {
		if s.Addr.Port() == uint16(port) {
			return s
		}
	}
	return SourceStatus{}
}

// Three gpsntpd at host time and one 1 s ahead, plus a server nobody
// runs: the +1 s one is a falseticker, the estimate is host time within a
// few ms and its bound covers the truth; the unreachable one costs
// nothing (reach 0, no error, not used).
func TestSimUpstreamsFalseticker(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts four daemons")
	}
	good := []int{startSim(t, 0), startSim(t, 0), startSim(t, 0)}
	bad := startSim(t, time.Second)
	dead := freePort(t)
	var srcs []config.Upstream
	for _, p := range append(good, bad, dead) {
		srcs = append(srcs, server(p, "iburst"))
	}
	// 50 ms a poll second: 64 s polls every 3.2 s, bursts 100 ms apart.
	c, _ := runClient(t, Config{Sources: srcs}, 50*time.Millisecond)
	var est Estimate
	waitFor(t, "three truechimers and the +1 s falseticker", 60*time.Second, func() bool {
		var ok bool
		est, ok = c.Estimate()
		return ok && est.Truechimers == 3 && statusOf(c, bad).Tally == TallyFalse
	})
	if math.Abs(est.OffsetNs) > 5e6 {
		t.Errorf("estimate offset %v ms, want host time within 5 ms", est.OffsetNs/1e6)
	}
	if math.Abs(est.OffsetNs) > est.ErrorNs || est.RootDelayNs/2+est.RootDispersionNs < est.ErrorNs {
		t.Errorf("estimate %+v: the bound does not cover the truth (offset 0) or the wire fields understate it", est)
	}
	if est.Stratum != 2 || est.RefID != [4]byte{127, 0, 0, 1} || est.SystemPeer.Port() == uint16(bad) || len(est.Selected) == 0 {
		t.Errorf("estimate stratum %d refid %v peer %v selected %v", est.Stratum, est.RefID, est.SystemPeer, est.Selected)
	}
	for _, s := range c.Status() {
		switch s.Addr.Port() {
		case uint16(bad):
			if math.Abs(s.OffsetNs-1e9) > 5e6 || s.Stratum != 1 || s.RefID != ".PPS." {
				t.Errorf("falseticker row %+v, want offset +1 s stratum 1 .PPS.", s)
			}
		case uint16(dead):
			if s.Reach != 0 || s.Tally != TallyNotUsed || s.WhenS != -1 {
				t.Errorf("unreachable row %+v, want reach 0, not used", s)
			}
		default:
			if !strings.ContainsRune("*+", rune(s.Tally)) || s.Reach == 0 || s.DelayNs <= 0 || s.DelayNs > 50e6 {
				t.Errorf("good row %+v, want * or + with reach and a delay", s)
			}
		}
	}
}

// fakeServer answers every request with a kiss-o'-death code and records
// when requests arrived.
type fakeServer struct {
	pc    *net.UDPConn
	mu    sync.Mutex
	times []time.Time
}

func startKoD(t *testing.T, code string) *fakeServer {
	t.Helper()
	pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeServer{pc: pc}
	t.Cleanup(func() { pc.Close() })
	go func() {
		b := make([]byte, 512)
		for {
			n, from, err := pc.ReadFromUDPAddrPort(b)
			if err != nil {
				return
			}
			var req ntpserve.Header
			if req.Decode(b[:n]) != nil {
				continue
			}
			f.mu.Lock()
			f.times = append(f.times, time.Now())
			f.mu.Unlock()
			// As ntpserve sends it: LI 3, stratum 0, refid the code,
			// origin = the client's transmit.
			r := ntpserve.Header{Leap: 3, Version: 4, Mode: 4, Origin: req.Transmit, Receive: req.Transmit, Transmit: req.Transmit}
			copy(r.RefID[:], code)
			var out [48]byte
			r.Encode(out[:])
			pc.WriteToUDPAddrPort(out[:], from)
		}
	}()
	return f
}

func (f *fakeServer) requests() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.times...)
}

func (f *fakeServer) port() int { return f.pc.LocalAddr().(*net.UDPAddr).Port }

// KoD RATE: the poll doubles for good (the burst is abandoned), the
// next request comes no sooner than the longer poll, and the warning is
// logged once.
func TestKoDRate(t *testing.T) {
	f := startKoD(t, "RATE")
	const unit = 50 * time.Millisecond // minpoll 6: 3.2 s
	c, lb := runClient(t, Config{Sources: []config.Upstream{server(f.port(), "iburst")}}, unit)
	waitFor(t, "three requests", 60*time.Second, func() bool { return len(f.requests()) >= 3 })
	r := f.requests()
	// After the first KoD the poll is 128 "s" (6.4 s), after the second
	// 256: never the burst's 2 (100 ms) nor minpoll's 64 (3.2 s).
	if gap := r[1].Sub(r[0]); gap < 128*unit*9/10 {
		t.Errorf("request after KoD RATE came %v later, want ≥ %v (poll 128 s scaled)", gap, 128*unit)
	}
	if gap := r[2].Sub(r[1]); gap < 256*unit*9/10 {
		t.Errorf("request after the second KoD RATE came %v later, want ≥ %v", gap, 256*unit)
	}
	s := statusOf(c, f.port())
	if s.KoD != KissRate || s.PollS < 256 || s.Stopped || s.Reach != 0 {
		t.Errorf("status %+v, want KoD RATE, poll ≥ 256, still polled, reach 0", s)
	}
	if n := strings.Count(lb.String(), "kiss-o'-death RATE"); n != 1 {
		t.Errorf("RATE warning logged %d times, want once:\n%s", n, lb.String())
	}
}

// KoD DENY: polling that address stops at once (the burst too).
func TestKoDDeny(t *testing.T) {
	f := startKoD(t, "DENY")
	const unit = 50 * time.Millisecond
	c, lb := runClient(t, Config{Sources: []config.Upstream{server(f.port(), "iburst")}}, unit)
	waitFor(t, "the first request", 30*time.Second, func() bool { return len(f.requests()) >= 1 })
	// Three minpolls and many burst spacings.
	time.Sleep(3 * 64 * unit)
	if n := len(f.requests()); n != 1 {
		t.Errorf("%d requests after DENY, want 1", n)
	}
	s := statusOf(c, f.port())
	if s.KoD != KissDeny || !s.Stopped {
		t.Errorf("status %+v, want KoD DENY, stopped", s)
	}
	if !strings.Contains(lb.String(), "kiss-o'-death DENY") {
		t.Errorf("no DENY warning:\n%s", lb.String())
	}
}

// fakeResolver answers every name with its addresses.
type fakeResolver struct {
	mu    sync.Mutex
	addrs []netip.Addr
	calls int
}

func (r *fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	return r.addrs, nil
}

// A pool name with six addresses gives maxsources (4) associations; as
// they are unreachable (nothing listens) they are replaced by the others.
func TestPool(t *testing.T) {
	res := &fakeResolver{}
	for i := range 6 {
		res.addrs = append(res.addrs, netip.AddrFrom4([4]byte{127, 0, 0, byte(11 + i)}))
	}
	port := freePort(t)
	u := config.Upstream{Pool: true, Host: "pool.test", Port: port, IBurst: true, MinPoll: 6, MaxPoll: 10, MaxSources: 4}
	// 5 ms a poll second: 64 s polls every 320 ms, unreachable in ~3 s.
	c, _ := runClient(t, Config{Sources: []config.Upstream{u}, Resolver: res}, 5*time.Millisecond)
	seen := map[netip.Addr]bool{}
	var first []SourceStatus
	waitFor(t, "4 associations", 20*time.Second, func() bool {
		first = c.Status()
		return len(first) == 4 && first[0].Addr.IsValid()
	})
	for _, s := range first {
		if s.Host != "pool.test" || !s.Pool || s.Addr.Port() != uint16(port) || seen[s.Addr.Addr()] {
			t.Errorf("pool row %+v", s)
		}
		seen[s.Addr.Addr()] = true
	}
	waitFor(t, "an unreachable member replaced by a fifth address", 60*time.Second, func() bool {
		for _, s := range c.Status() {
			if s.Addr.IsValid() && !seen[s.Addr.Addr()] {
				return true
			}
		}
		return false
	})
	if n := len(c.Status()); n > 4 {
		t.Errorf("%d pool associations, want at most 4", n)
	}
	res.mu.Lock()
	defer res.mu.Unlock()
	if res.calls < 2 {
		t.Errorf("resolver called %d times, want a re-resolution", res.calls)
	}
}

const chronyConf = `local stratum 1
port %d
bindaddress 127.0.0.1
allow 127.0.0.1
cmdport 0
pidfile %s/chronyd.pid
driftfile %s/drift
`

// A real chronyd (-x: never touches the clock; without CAP_SYS_TIME
// anyway) serving its local clock at stratum 1 is selected.
func TestChronydUpstream(t *testing.T) {
	chronyd := "/tmp/chrony/usr/sbin/chronyd"
	if p, err := exec.LookPath("chronyd"); err == nil {
		chronyd = p
	}
	if _, err := os.Stat(chronyd); err != nil {
		t.Skipf("no chronyd: %v", err)
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("no setpriv")
	}
	dir := t.TempDir()
	port := freePort(t)
	conf := filepath.Join(dir, "chrony.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, chronyConf, port, dir, dir), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"--bounding-set", "-sys_time", "--inh-caps", "-sys_time", chronyd, "-x", "-d", "-f", conf}
	if os.Geteuid() == 0 {
		args = append(args, "-u", "root") // no _chrony user on a build machine
	}
	cmd := exec.Command(setpriv, args...)
	startProcess(t, "chronyd", cmd)
	c, _ := runClient(t, Config{Sources: []config.Upstream{server(port, "iburst")}, MinSane: 1}, 50*time.Millisecond)
	var est Estimate
	waitFor(t, "chronyd selected", 60*time.Second, func() bool {
		var ok bool
		est, ok = c.Estimate()
		return ok
	})
	if est.SystemPeer.Port() != uint16(port) || est.Stratum != 2 || math.Abs(est.OffsetNs) > 10e6 {
		t.Errorf("estimate %+v, want chronyd as system peer, stratum 2, offset within 10 ms of host time", est)
	}
	if s := statusOf(c, port); s.Tally != TallySysPeer || s.Stratum != 1 {
		t.Errorf("chronyd row %+v, want * stratum 1", s)
	}
}

// startProcess starts cmd and, when t ends, interrupts it (killing it
// after 10 s) and, if t failed, logs its output under name.
func startProcess(t *testing.T, name string, cmd *exec.Cmd) {
	t.Helper()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", name, out.String())
		}
	})
}
