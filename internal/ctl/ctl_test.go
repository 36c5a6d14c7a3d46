package ctl

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/gpsntp/gpsntp/ntpserve"
)

// counts is the server's counters: received, and by outcome.
func counts(received uint64, by map[ntpserve.Outcome]uint64) ntpserve.Stats {
	st := ntpserve.Stats{Received: received}
	for o, n := range by {
		st.Outcomes[o] = n
	}
	return st
}

func testSnapshot() *Snapshot {
	return &Snapshot{
		Time: time.Date(2026, 11, 3, 12, 34, 56, 0, time.UTC), UptimeS: 3725, Clock: "soft",
		State: "pps", Synchronised: true, RefID: "PPS", Stratum: 1,
		OffsetNs: -334, JitterNs: 1391, FreqPPB: -16, RootDispersionNs: 1513,
		PPS: PPSStatus{Configured: true, Source: "gpio 18", Edges: 3700, Paired: 3690, LastEdgeAgoS: 0.4},
		GPS: GPSStatus{Device: "/dev/serial0", DeviceState: "open", Baud: 9600, Mode: "3D", SatsUsed: 2, SatsInView: 3,
			HDOP: 0.8, LatDeg: 52.2053, LonDeg: 0.1218, AltM: 15, FixTime: time.Date(2026, 11, 3, 12, 34, 55, 0, time.UTC), TimeValid: true},
		Satellites: []Satellite{{2, 67, 95, 44, true}, {5, 23, 310, 36, true}, {25, 8, 280, -1, false}},
		Sources: []Source{
			{Tally: "o", Remote: "PPS(0)", RefID: ".PPS.", Type: "l", WhenS: 0, PollS: 1, Reach: 0o377, OffsetNs: -334, JitterNs: 1391},
			{Tally: "+", Remote: "GPS_NMEA(0)", RefID: ".GPS.", Type: "l", WhenS: 1, PollS: 1, Reach: 0o376, OffsetNs: 1.279e6, JitterNs: 1.937e6},
			{Tally: "*", Remote: "192.0.2.1", Host: "ntp1.example.net", RefID: ".GPS.", Stratum: 1, Type: "u", WhenS: 12, PollS: 64,
				Reach: 0o377, DelayNs: 1.234e6, OffsetNs: 0.214e6, JitterNs: 0.05e6},
			{Tally: "+", Remote: "192.0.2.2:12300", Host: "192.0.2.2", RefID: "192.0.2.1", Stratum: 2, Type: "u", WhenS: 3, PollS: 64,
				Reach: 0o17, DelayNs: 3.5e6, OffsetNs: -0.6e6, JitterNs: 0.2e6},
			{Tally: "x", Remote: "198.51.100.7", Host: "pool.example.org", RefID: ".GPS.", Stratum: 1, Type: "p", WhenS: 100, PollS: 128,
				Reach: 0o176, DelayNs: 25.5e6, OffsetNs: 1000.5e6, JitterNs: 0.3e6},
			{Tally: " ", Remote: "198.51.100.8", Host: "pool.example.org", RefID: ".INIT.", Stratum: 16, Type: "p", WhenS: -1, PollS: 64,
				Note: "no reply"},
			{Tally: " ", Remote: "192.0.2.9", Host: "192.0.2.9", RefID: ".INIT.", Stratum: 16, Type: "u", WhenS: -1, PollS: 64,
				Note: "no reply"},
			{Tally: " ", Remote: "ntp.invalid", Host: "ntp.invalid", RefID: ".INIT.", Stratum: 16, Type: "u", WhenS: -1, PollS: 64,
				Note: "configured, not queried: resolve ntp.invalid: no such host"},
		},
		Upstream: &UpstreamStatus{OK: true, Truechimers: 2, MinSane: 2, Sources: 6, Reachable: 3,
			OffsetNs: 0.214e6, ErrorNs: 1.2e6, Stratum: 2, RefID: "192.0.2.1", SystemPeer: "192.0.2.1"},
		Server: ServerStats{Listen: []string{"0.0.0.0:123"}, Counts: counts(100, map[ntpserve.Outcome]uint64{ntpserve.OutReply: 90, ntpserve.OutDropRate: 4, ntpserve.OutKoD: 6}), RequestsPerMin: 12},
		Events: []Event{{Time: time.Date(2026, 11, 3, 12, 0, 7, 0, time.UTC), Level: "INFO", Msg: "state change", Attrs: "from=unsync to=pps"}},
	}
}

func TestSourcesBillboard(t *testing.T) {
	l := SourcesLines(testSnapshot())
	want := []string{
		"     remote         refid        st t when poll reach   delay   offset  jitter",
		"==============================================================================",
		"oPPS(0)          .PPS.            0 l    0    1   377   0.000   -0.000   0.001",
		"+GPS_NMEA(0)     .GPS.            0 l    1    1   376   0.000    1.279   1.937",
		"*192.0.2.1       .GPS.            1 u   12   64   377   1.234    0.214   0.050",
		"+192.0.2.2:12300 192.0.2.1        2 u    3   64    17   3.500   -0.600   0.200",
		"x198.51.100.7    .GPS.            1 p  100  128   176  25.500 1000.500   0.300",
		" 198.51.100.8    .INIT.          16 p    -   64     0   0.000    0.000   0.000",
		" 192.0.2.9       .INIT.          16 u    -   64     0   0.000    0.000   0.000",
		" ntp.invalid     .INIT.          16 u    -   64     0   0.000    0.000   0.000",
		"198.51.100.8, 192.0.2.9: no reply",
		"ntp.invalid: configured, not queried: resolve ntp.invalid: no such host",
		"(ms; offset is our clock minus the source's: ntpq -p shows the opposite sign)",
		"upstream 2 of 6 agree: offset +214.000us +/-1.200ms, st 2 via 192.0.2.1",
	}
	if strings.Join(l, "\n") != strings.Join(want, "\n") {
		t.Errorf("SourcesLines() =\n%s\nwant\n%s", strings.Join(l, "\n"), strings.Join(want, "\n"))
	}
	// Columns line up with the header, as ntpq's do.
	h := l[0]
	for _, col := range []string{"st", "when", "reach", "offset"} {
		end := strings.Index(h, col) + len(col)
		if l[2][end-1] == ' ' {
			t.Errorf("column %q: row %q has a blank under the header's last letter", col, l[2])
		}
	}
}

func TestViewsFit80Columns(t *testing.T) {
	s := testSnapshot()
	s.GPS.DeviceErr = strings.Repeat("x", 200)
	s.GPS.DeviceState = "lost"
	s.GPS.Receiver = "u-blox \x1b[2J\u00e9"
	s.Alarms = []string{strings.Repeat("word ", 60), "GPS device /dev/ttyUSB0 \x1b[2J gone: \u00e9t\u00e9\n", strings.Repeat("y", 120)}
	for _, v := range Views {
		var b bytes.Buffer
		if err := Render(&b, v, s); err != nil {
			t.Fatalf("Render(%s) = %v", v, err)
		}
		for _, l := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
			if len(l) > 79 {
				t.Errorf("Render(%s): line of %d columns: %q", v, len(l), l)
			}
			for _, r := range l {
				if r > 0x7e || r < 0x20 {
					t.Errorf("Render(%s): control or non-ASCII %q in %q", v, r, l)
				}
			}
		}
	}
	if err := Render(&bytes.Buffer{}, "bogus", s); err == nil {
		t.Error("Render(bogus) = nil error, want unknown view")
	}
	if rows := ScreenLines(s); len(rows) != ScreenRows-1 {
		t.Errorf("ScreenLines: %d rows, want %d", len(rows), ScreenRows-1)
	}
}

func TestStatusLines(t *testing.T) {
	l := strings.Join(StatusLines(testSnapshot()), "\n")
	for _, want := range []string{"2026-11-03 12:34:56 UTC", "up 1h02m", "PPS (synchronised)", "offset  -334ns",
		"jitter 1.391us", "freq -0.016 ppm", "gpio 18: edges 3700", "fix 3D, sats 2/3", "52.20530N 0.12180E", "served 90"} {
		if !strings.Contains(l, want) {
			t.Errorf("StatusLines() missing %q:\n%s", want, l)
		}
	}
}

func TestLeapFileLine(t *testing.T) {
	at := time.Date(2027, 6, 16, 0, 0, 0, 0, time.UTC)
	exp := time.Date(2027, 6, 28, 0, 0, 0, 0, time.UTC)
	const path = "/etc/gpsntp/leap-seconds.list"
	for _, c := range []struct {
		name string
		f    *LeapFileStatus
		now  time.Time
		want string
	}{
		{"none", nil, at, "leapfile none: leap seconds from the receiver's announcement only"},
		{"in use", &LeapFileStatus{path, exp}, at, "leapfile expires 2027-06-28 (in 12 days): " + path},
		{"a day and a bit", &LeapFileStatus{path, exp}, exp.Add(-25 * time.Hour), "leapfile expires 2027-06-28 (in 1 day): " + path},
		{"the last hours", &LeapFileStatus{path, exp}, exp.Add(-time.Hour), "leapfile expires 2027-06-28 (within a day): " + path},
		{"expired", &LeapFileStatus{path, exp}, exp, "leapfile expires 2027-06-28 (expired): " + path},
		{"no expiry", &LeapFileStatus{Path: path}, at, "leapfile names no expiry: " + path},
		{"a long path is cut, not the date", &LeapFileStatus{"/tmp/gpsntp-boot/" + strings.Repeat("x", 60), exp}, at,
			"leapfile expires 2027-06-28 (in 12 days): /tmp/gpsntp-boot/" + strings.Repeat("x", 20)},
	} {
		s := testSnapshot()
		s.Time, s.LeapFile = c.now, c.f
		l := StatusLines(s)
		if got := l[len(l)-1]; got != c.want {
			t.Errorf("%s: StatusLines() last line = %q, want %q", c.name, got, c.want)
		}
	}
}

func TestAlarmLines(t *testing.T) {
	for _, c := range []struct {
		name, alarm string
		want        []string
	}{
		{"short", "GPS device lost", []string{"ALARM: GPS device lost"}},
		{"wrapped at a space", "PPS configured on gpio 18 but no pulses for 30 s: check wiring / dtoverlay / antenna",
			[]string{"ALARM: PPS configured on gpio 18 but no pulses for 30 s: check wiring /",
				"       dtoverlay / antenna"}},
		{"controls and non-ASCII shown as ?", "tty \x1b[2J \u00e9\r\n", []string{"ALARM: tty ?[2J ??"}},
		{"one long word cut", strings.Repeat("z", 100), []string{"ALARM: " + strings.Repeat("z", 72)}},
		{"at most three lines", strings.Repeat("abcdefghi ", 40), []string{
			"ALARM:" + strings.Repeat(" abcdefghi", 7),
			"      " + strings.Repeat(" abcdefghi", 7),
			"      " + strings.Repeat(" abcdefghi", 7)[:70] + "..."}},
	} {
		got := AlarmLines(c.alarm)
		if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
			t.Errorf("%s: AlarmLines(%q) =\n%s\nwant\n%s", c.name, c.alarm, strings.Join(got, "\n"), strings.Join(c.want, "\n"))
		}
	}
}

// Alarms come right after the status view's first line, and on the live
// console screen, which keeps its size.
func TestAlarmsShown(t *testing.T) {
	s := testSnapshot()
	s.Alarms = []string{"PPS configured on gpio 18 but no pulses for 30 s: check wiring / dtoverlay / antenna", "GPS device lost"}
	l := StatusLines(s)
	if !strings.HasPrefix(l[1], "ALARM: PPS configured") || l[2] != "       dtoverlay / antenna" || l[3] != "ALARM: GPS device lost" || !strings.HasPrefix(l[4], "state") {
		t.Errorf("StatusLines() =\n%s\nwant the alarms on lines 2-4", strings.Join(l, "\n"))
	}
	rows := ScreenLines(s)
	if len(rows) != ScreenRows-1 || rows[1] != l[1] || rows[3] != l[3] {
		t.Errorf("ScreenLines() = %d rows:\n%s\nwant %d with the alarms at the top", len(rows), strings.Join(rows, "\n"), ScreenRows-1)
	}
	// So many alarms that nothing else fits: the screen keeps its size.
	for range 10 {
		s.Alarms = append(s.Alarms, strings.Repeat("many words ", 20))
	}
	if rows := ScreenLines(s); len(rows) != ScreenRows-1 || !strings.HasPrefix(rows[ScreenRows-2], "commands:") {
		t.Errorf("ScreenLines() with %d alarms = %d rows, last %q", len(s.Alarms), len(rows), rows[len(rows)-1])
	}
}

func TestFmtDur(t *testing.T) {
	for _, c := range []struct {
		ns   float64
		sign bool
		want string
	}{{-334, true, "-334ns"}, {1391, false, "1.391us"}, {12.5e6, true, "+12.500ms"}, {1.5e9, false, "1.500s"}, {0, true, "+0ns"}} {
		if got := fmtDur(c.ns, c.sign); got != c.want {
			t.Errorf("fmtDur(%v, %v) = %q, want %q", c.ns, c.sign, got, c.want)
		}
	}
}

func TestReach(t *testing.T) {
	var r Reach
	if r.WhenS(5e9) != -1 {
		t.Errorf("WhenS before any sample = %d, want -1", r.WhenS(5e9))
	}
	for i := 0; i < 10; i++ {
		if i%2 == 0 {
			r.Sample(int64(i)*1e9, float64(i%4)*1000)
		}
		r.Poll(i%2 == 0)
	}
	if r.Register != 0b10101010 {
		t.Errorf("Register = %08b, want 10101010", r.Register)
	}
	if got := r.WhenS(11e9); got != 3 {
		t.Errorf("WhenS = %d, want 3", got)
	}
	if r.JitterNs < 1000 || r.JitterNs > 2000 {
		t.Errorf("JitterNs = %v, want between 1 and 2 us for offsets alternating 0/2 us", r.JitterNs)
	}
}

func TestEventLogRingAndThrottle(t *testing.T) {
	var out bytes.Buffer
	h := NewEventLog(slog.NewTextHandler(&out, nil), 4, time.Minute)
	log := slog.New(h)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	emit := func(at time.Duration, msg string, args ...any) {
		r := slog.NewRecord(t0.Add(at), slog.LevelWarn, msg, 0)
		r.Add(args...)
		if err := h.Handle(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	emit(0, "GPS device lost", "device", "/dev/serial0")
	for i := 1; i <= 5; i++ {
		emit(time.Duration(i)*time.Second, "GPS device lost", "device", "/dev/serial0")
	}
	emit(10*time.Second, "GPS device lost", "device", "/dev/ttyUSB0") // different attrs: not a repeat
	emit(61*time.Second, "GPS device lost", "device", "/dev/serial0")
	if n := strings.Count(out.String(), "GPS device lost"); n != 3 {
		t.Errorf("passed on %d lines, want 3 (5 repeats throttled):\n%s", n, out.String())
	}
	if !strings.Contains(out.String(), "repeated=5") {
		t.Errorf("output lacks repeated=5:\n%s", out.String())
	}
	log.With("dev", "x").Info("a")
	log.Info("b")
	ev := h.Events()
	if len(ev) != 4 {
		t.Fatalf("Events() has %d, want the ring's 4", len(ev))
	}
	if ev[1].Attrs != "device=/dev/serial0 repeated=5" || ev[2].Attrs != "dev=x" || ev[3].Msg != "b" {
		t.Errorf("Events() = %+v", ev)
	}
}

func TestSocketRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "ctl.sock")
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o660 || fi.Mode()&os.ModeSocket == 0 {
		t.Errorf("socket mode = %v (err %v), want a socket with 0660", fi.Mode(), err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	snap := testSnapshot()
	go func() { done <- Serve(ctx, ln, func() *Snapshot { return snap }) }()
	got, err := Fetch(path, 2*time.Second)
	if err != nil {
		t.Fatalf("Fetch = %v", err)
	}
	var a, b bytes.Buffer
	Render(&a, "sources", snap)
	Render(&b, "sources", got)
	if a.String() != b.String() || !got.Time.Equal(snap.Time) || len(got.Satellites) != 3 {
		t.Errorf("Fetch() rendered\n%s\nwant\n%s", b.String(), a.String())
	}
	if _, err := Listen(path); !errors.Is(err, ErrInUse) {
		t.Errorf("Listen on a live socket = %v, want ErrInUse", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve = %v, want nil after cancel", err)
	}
	if _, err := Fetch(path, time.Second); err == nil {
		t.Error("Fetch after the daemon stopped = nil error")
	}
	// A stale socket file is replaced.
	ln2, err := Listen(path)
	if err != nil {
		t.Fatalf("Listen over a stale socket = %v", err)
	}
	ln2.Close()
}

var escRE = regexp.MustCompile(`\x1b\[[0-9;]*[A-Za-z]`)

// ptyReader collects what the console writes to the pty. creack/pty's
// files are in blocking mode (no read deadlines), so one goroutine reads.
type ptyReader struct {
	mu  sync.Mutex
	buf []byte
}

func newPTYReader(f *os.File) *ptyReader {
	r := &ptyReader{}
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := f.Read(b)
			r.mu.Lock()
			r.buf = append(r.buf, b[:n]...)
			r.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return r
}

// drained waits until the master has nothing left to read and the reader
// has taken in what it read.
func (r *ptyReader) drained(t *testing.T, master *os.File) {
	t.Helper()
	last := -1
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCINQ)
		if err != nil {
			t.Fatalf("ioctl(TIOCINQ) = %v", err)
		}
		if n == 0 && r.len() == last {
			return
		}
		last = r.len()
	}
	t.Fatal("pty master not drained within 10 s")
}

func (r *ptyReader) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.buf)
}

// until waits until the text after offset from (escape sequences removed)
// contains want, and returns that text, raw.
func (r *ptyReader) until(t *testing.T, from int, want string, d time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		r.mu.Lock()
		got := string(r.buf[from:])
		r.mu.Unlock()
		if strings.Contains(escRE.ReplaceAllString(got, "\n"), want) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("console did not show %q within %v; got:\n%q", want, d, got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestConsoleOnPTY(t *testing.T) {
	master, slave, err := pty.Open()
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	defer master.Close()
	defer slave.Close()
	rc, _ := slave.SyscallConn()
	var rerr error
	rc.Control(func(fd uintptr) { _, rerr = MakeRaw(int(fd), 0) })
	if rerr != nil {
		t.Fatalf("MakeRaw = %v", rerr)
	}
	var snap atomic.Pointer[Snapshot]
	snap.Store(testSnapshot())
	c := &Console{R: slave, W: slave, Get: snap.Load, Interval: 100 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	r := newPTYReader(master)

	r.until(t, 0, "commands: status sats", 3*time.Second)
	// Steady state: nothing changes, so nothing is sent.
	n0 := r.len()
	time.Sleep(400 * time.Millisecond)
	if n := r.len() - n0; n > 0 {
		t.Errorf("console sent %d bytes with nothing changed, want 0", n)
	}
	n0 = r.len()
	master.Write([]byte("sats\r"))
	out := r.until(t, n0, "PRN  elev  azim  SNR  used", 3*time.Second)
	if !strings.HasPrefix(out, "sats") {
		t.Errorf("typed command not echoed first: %q", out)
	}
	// Paused on the command's output: no redraws meanwhile.
	n0 = r.len()
	time.Sleep(300 * time.Millisecond)
	if n := r.len() - n0; n > 0 {
		t.Errorf("console sent %d bytes while showing a command's output, want 0", n)
	}
	master.Write([]byte("sourcez\x7fs\r"))
	r.until(t, n0, "oPPS(0)          .PPS.", 3*time.Second)
	n0 = r.len()
	master.Write([]byte("bogus\r"))
	r.until(t, n0, `unknown command "bogus"; type help`, 3*time.Second)
	n0 = r.len()
	master.Write([]byte("\r"))
	r.until(t, n0, "recent events:", 3*time.Second)
	// A change redraws only the changed rows.
	time.Sleep(300 * time.Millisecond)
	n0 = r.len()
	s2 := *testSnapshot()
	s2.Time = s2.Time.Add(time.Second)
	snap.Store(&s2)
	out = r.until(t, n0, "12:34:57", 3*time.Second)
	if strings.Contains(out, "\x1b[2J") || strings.Contains(out, "recent events") {
		t.Errorf("one changed row redrew the screen: %q", out)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
}

// tcflow stops (TCOOFF) or restarts (TCOON) output on the terminal f, as
// Scroll Lock on a VT or a flow-control stop on a serial line does.
func tcflow(t *testing.T, f *os.File, action int) {
	t.Helper()
	rc, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var ierr error
	if err := rc.Control(func(fd uintptr) { ierr = unix.IoctlSetInt(int(fd), unix.TCXONC, action) }); err != nil {
		t.Fatal(err)
	}
	if ierr != nil {
		t.Fatalf("ioctl(TCXONC, %d) = %v", action, ierr)
	}
}

// setIXON turns on the kernel's XON/XOFF output control (MakeRaw turns it
// off), so ^S typed on the terminal stops output.
func setIXON(t *testing.T, f *os.File) {
	t.Helper()
	rc, _ := f.SyscallConn()
	var ierr error
	rc.Control(func(fd uintptr) {
		tm, err := unix.IoctlGetTermios(int(fd), unix.TCGETS)
		if err != nil {
			ierr = err
			return
		}
		tm.Iflag |= unix.IXON
		ierr = unix.IoctlSetTermios(int(fd), unix.TCSETS, tm)
	})
	if ierr != nil {
		t.Fatalf("set IXON: %v", ierr)
	}
}

// A terminal that stops taking output (Scroll Lock, XOFF) must not stop
// the console: frames are dropped meanwhile, a full redraw follows the
// restart, and Run returns promptly when cancelled even with a write
// stuck. Before, Run blocked in its write, and the daemon's console stop
// (so SIGHUP and SIGTERM) waited forever. Both ways of stopping a Linux
// pty's output block a writer: TCOOFF on the slave, and ^S typed on the
// master with IXON set (without IXON, as MakeRaw leaves it, ^S is just a
// key).
func TestConsoleOutputStopped(t *testing.T) {
	type ends struct{ master, slave *os.File }
	for _, c := range []struct {
		name         string
		stop, resume func(t *testing.T, p ends)
		// writer is W: the slave itself (an *os.File Go polls, so it
		// takes write deadlines) or a wrapper without SetWriteDeadline.
		writer      func(p ends) io.Writer
		writerQuits bool
	}{
		{"TCOOFF, *os.File with write deadline",
			func(t *testing.T, p ends) { tcflow(t, p.slave, unix.TCOOFF) },
			func(t *testing.T, p ends) { tcflow(t, p.slave, unix.TCOON) },
			func(p ends) io.Writer { return p.slave }, true},
		{"^S with IXON, plain io.Writer",
			func(t *testing.T, p ends) { p.master.Write([]byte{0x13}) },
			func(t *testing.T, p ends) { p.master.Write([]byte{0x11}) },
			func(p ends) io.Writer { return struct{ io.Writer }{p.slave} }, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			master, slave, err := pty.Open()
			if err != nil {
				t.Skipf("no pty: %v", err)
			}
			defer master.Close()
			defer slave.Close()
			p := ends{master, slave}
			rc, _ := slave.SyscallConn()
			var rerr error
			rc.Control(func(fd uintptr) { _, rerr = MakeRaw(int(fd), 0) })
			if rerr != nil {
				t.Fatalf("MakeRaw = %v", rerr)
			}
			setIXON(t, slave)
			// Every redraw changes the clock row: a steady flow of frames.
			var n atomic.Int64
			get := func() *Snapshot {
				s := testSnapshot()
				s.Time = s.Time.Add(time.Duration(n.Add(1)) * time.Second)
				return s
			}
			con := &Console{R: slave, W: c.writer(p), Get: get, Interval: 20 * time.Millisecond, MaxPending: minPending}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- con.Run(ctx) }()
			r := newPTYReader(master)
			r.until(t, 0, "commands: status sats", 5*time.Second)

			waitDrops := func(what string) {
				t.Helper()
				d0 := con.Dropped()
				for deadline := time.Now().Add(20 * time.Second); con.Dropped() <= d0; {
					if time.Now().After(deadline) {
						t.Fatalf("%s: no frame dropped within 20 s (dropped %d)", what, con.Dropped())
					}
					select {
					case err := <-done:
						t.Fatalf("%s: Run returned %v", what, err)
					case <-time.After(20 * time.Millisecond):
					}
				}
			}
			c.stop(t, p)
			waitDrops("output stopped")
			mark := r.len()
			c.resume(t, p)
			out := r.until(t, mark, "commands: status sats", 10*time.Second)
			if !strings.Contains(out, escClear) {
				t.Errorf("after output resumed: no full redraw (%q) in %q", escClear, out)
			}

			c.stop(t, p)
			waitDrops("output stopped again")
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run = %v, want nil after cancel", err)
				}
			case <-time.After(2 * time.Second):
				t.Error("Run did not return within 2 s of cancel with output stopped")
			}
			// With a deadline the stuck write failed and the writer quit:
			// nothing more comes when output resumes. Without one it was
			// still blocked, and finishes now. First let the reader take
			// what was written before the stop (a loaded machine may lag).
			r.drained(t, master)
			mark = r.len()
			c.resume(t, p)
			time.Sleep(500 * time.Millisecond)
			if got := r.len() - mark; (got == 0) != c.writerQuits {
				t.Errorf("after cancel and resume: %d more bytes; writer should have quit: %v", got, c.writerQuits)
			}
		})
	}
}

// FuzzConsoleKeys: whatever is typed, the console sends the terminal only
// printable ASCII, CR, LF, BS and its own CSI sequences (no typed control
// byte is echoed), at most a screen per key, and keeps a command line of
// printable ASCII no longer than maxInput.
func FuzzConsoleKeys(f *testing.F) {
	for _, s := range []string{"sats\r", "sources\r\n", "sourcez\x7fs\r", "bogus\r", "\r", "help\r\n\r\n",
		"log\n", "stat\x15status\r", "\x0c", "\x1b[A\x1b[B", "\x13\x11\x03", "q\r", strings.Repeat("x", 60) + "\r",
		"clients\r\x0c\r", "\xff\xfe\x00\x08\x08\x08"} {
		f.Add([]byte(s), uint8(len(s)/2), false)
	}
	f.Fuzz(func(t *testing.T, keys []byte, split uint8, starting bool) {
		get := testSnapshot
		if starting {
			get = func() *Snapshot { return nil }
		}
		c := &Console{Get: get, q: &outQueue{max: 1 << 30, wake: make(chan struct{}, 1)}}
		c.redraw(true)
		c.flush()
		c.q.buf = c.q.buf[:0]
		// Keys arrive in two reads: a CR LF may straddle them.
		cut := min(int(split), len(keys))
		c.keys(keys[:cut])
		c.keys(keys[cut:])
		c.flush()
		out := c.q.buf
		if limit := (len(keys) + 1) * 4096; len(out) > limit {
			t.Fatalf("keys %q: %d bytes out, more than %d", keys, len(out), limit)
		}
		for i, b := range out {
			switch {
			case b >= 0x20 && b < 0x7f, b == '\r', b == '\n', b == '\b':
			case b == 0x1b && i+1 < len(out) && out[i+1] == '[':
			default:
				t.Fatalf("keys %q: byte %#x at %d of the output %q", keys, b, i, out)
			}
		}
		if len(c.input) > maxInput {
			t.Fatalf("keys %q: command line of %d bytes", keys, len(c.input))
		}
		for _, b := range c.input {
			if b < 0x20 || b >= 0x7f {
				t.Fatalf("keys %q: command line %q holds a control byte", keys, c.input)
			}
		}
		if c.Dropped() != 0 {
			t.Fatalf("keys %q: %d frames dropped with room for all", keys, c.Dropped())
		}
	})
}
