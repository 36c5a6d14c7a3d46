package vmtest

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/gps/sim"
	"github.com/gpsntp/gpsntp/internal/simtime"
	"github.com/gpsntp/gpsntp/pps"
	"github.com/gpsntp/gpsntp/vmtest/agentwire"
)

const (
	// pl061 is the label of the virt board's GPIO controller; ppsLine its
	// line wired to QEMU's power button.
	pl061   = "9030000.pl061"
	ppsLine = "3"
	// rigBootLimit bounds the wait for the agent's first word.
	rigBootLimit = 120 * time.Second
)

// guestConf is gpsntpd's configuration in the guest: NMEA from the host on
// the USB serial port, PPS on the PL061 line, soft clock (the test is
// about capture, not steering), control socket for the agent.
const guestConf = `gps /dev/ttyUSB0 baud 9600
pps gpio 3 chip %s
clock soft
listen 0.0.0.0:123
control /run/gpsntp.sock
nmeadelay 120ms
`

// TestVMGPIO boots the image's Raspberry Pi kernel on QEMU's arm64 virt
// board, frees PL061 line 3 from gpio-keys, and pulses it from the host
// through QMP: first through pps.OpenGPIO alone (flags, kernel
// timestamps, sequence numbers, a skipped pulse), then through gpsntpd
// with simulated NMEA on a USB serial port (lock to PPS, a missed pulse,
// the controller vanishing and coming back, pulses stopping, a restart
// with a changed pps line).
func TestVMGPIO(t *testing.T) {
	r := startRig(t, rigConfig{files: []cpioEntry{
		{name: "etc/label.conf", mode: 0o100644, data: []byte(fmt.Sprintf(guestConf, pl061))},
		{name: "etc/path.conf", mode: 0o100644, data: []byte(fmt.Sprintf(guestConf, "/dev/gpiochip0"))},
	}})
	con := r.con

	// The board: the PL061 is a GPIO chip with 8 lines, and its line 3
	// is free once gpio-keys let go of it.
	var info struct {
		Release string `json:"release"`
		Unbound string `json:"unbound"`
		Chips   []struct {
			Path, Label string
			Lines       uint32
		} `json:"chips"`
	}
	con.call(10*time.Second, &info, "info")
	t.Logf("guest kernel %s, GPIO chips %+v, freed at boot: %s", info.Release, info.Chips, info.Unbound)
	if info.Unbound != "gpio-keys" {
		t.Fatalf("could not free the power button's GPIO line: %s", info.Unbound)
	}
	found := false
	for _, c := range info.Chips {
		found = found || c.Label == pl061 && c.Lines == 8
	}
	if !found {
		t.Fatalf("no GPIO chip labelled %s with 8 lines: %+v", pl061, info.Chips)
	}
	var li pps.LineInfo
	con.call(10*time.Second, &li, "lineinfo", pl061, ppsLine)
	if slices.Contains(li.Flags, "used") {
		t.Fatalf("line %s of %s still in use after unbinding gpio-keys: %+v", ppsLine, pl061, li)
	}

	t.Run("driver", func(t *testing.T) { driverPhase(t, con, r.qmp) })
	if t.Failed() {
		return
	}
	t.Run("daemon", func(t *testing.T) { daemonPhase(t, r) })
}

// wantFlags are what OpenGPIO asks the kernel for, as GPIO_V2_GET_LINEINFO
// reports them back.
var wantFlags = []string{"used", "input", "edge-rising", "event-clock-realtime"}

// driverPhase runs pps.OpenGPIO in the guest and pulses the line: slots
// one second apart, one of them skipped.
func driverPhase(t *testing.T, con *console, q *qmp) {
	const slots, skip = 8, 4
	id := con.send("edges", pl061, ppsLine, fmt.Sprint(slots-1), "40")
	var li pps.LineInfo
	if err := decodeAnswer(con.wait(id, 20*time.Second, "open", "edges"), &li); err != nil {
		t.Fatalf("pps.OpenGPIO(%s line %s) in the guest: %v", pl061, ppsLine, err)
	}
	t.Logf("line requested: consumer %q flags %v", li.Consumer, li.Flags)
	if li.Consumer != "gpsntp-pps" || !sameSet(li.Flags, wantFlags) {
		t.Errorf("line info = consumer %q flags %v, want consumer gpsntp-pps flags %v", li.Consumer, li.Flags, wantFlags)
	}
	sent := pulseSlots(t, q, slots, skip)
	edges := readEdges(t, con, id, len(sent))
	missed := checkEdges(t, edges, sent, skip)
	t.Logf("BENCH vm-gpio-driver edges %d/%d sent, missed %d detected (1 skipped)", len(edges), len(sent), missed)
}

// pulseSlots pulses the line at the next slots whole host seconds, except
// the one numbered skip, and returns when each pulse was asked for.
func pulseSlots(t *testing.T, q *qmp, slots, skip int) []time.Time {
	t.Helper()
	var sent []time.Time
	next := time.Now().Truncate(time.Second).Add(time.Second)
	for i := 0; i < slots; i++ {
		time.Sleep(time.Until(next))
		next = next.Add(time.Second)
		if i == skip {
			continue
		}
		at, err := q.pulse()
		if err != nil {
			t.Fatal(err)
		}
		sent = append(sent, at)
	}
	return sent
}

// readEdges collects n edges of stream id, then its final answer.
func readEdges(t *testing.T, con *console, id string, n int) []agentwire.Edge {
	t.Helper()
	var edges []agentwire.Edge
	for len(edges) < n {
		l := con.wait(id, 10*time.Second, "edge", "edges", "kedges")
		if l.verb != "edge" {
			t.Fatalf("edge stream ended after %d of %d edges: %s", len(edges), n, l.body)
		}
		var e agentwire.Edge
		if err := decodeAnswer(l, &e); err != nil {
			t.Fatal(err)
		}
		edges = append(edges, e)
	}
	con.wait(id, 10*time.Second)
	return edges
}

// checkEdges checks edges against the pulses sent (the one before edge
// skip was skipped): sequence numbers 1, 2, … (the kernel counts the edges
// it saw), stamps that are this pulse's (read soon after, intervals
// matching the host's), and the validator's verdict on the gap. It
// returns the missed pulses the validator counted.
func checkEdges(t *testing.T, edges []agentwire.Edge, sent []time.Time, skip int) int {
	t.Helper()
	missed, skipJudged := 0, true
	for i, e := range edges {
		hostGap := time.Duration(0)
		if i > 0 {
			hostGap = sent[i].Sub(sent[i-1])
		}
		t.Logf("edge seq %d: %s interval %.6fs (host sent %.6fs after the previous), read %.3fms after the stamp",
			e.Seq, e.Class, float64(e.IntervalNs)/1e9, hostGap.Seconds(), float64(e.ReadNs-e.AssertNs)/1e6)
		if e.Seq != uint32(i+1) {
			t.Errorf("edge %d: sequence %d, want %d (the kernel counts the line's edges from 1)", i, e.Seq, i+1)
		}
		if lag := e.ReadNs - e.AssertNs; lag < 0 || lag > int64(time.Second) {
			t.Errorf("edge %d: read %v after its kernel timestamp: not a CLOCK_REALTIME stamp of this pulse", i, time.Duration(lag))
		}
		if i > 0 {
			if d := time.Duration(e.IntervalNs) - hostGap; d.Abs() > 50*time.Millisecond {
				t.Errorf("edge %d: interval %v, but the host pulsed %v after the previous", i, time.Duration(e.IntervalNs), hostGap)
			}
		}
		missed += int(e.Missed)
		if i == 0 {
			continue
		}
		// A host that woke late (a loaded machine), or a guest whose
		// emulated CPU took the interrupt late (TCG: seen 3.8 ms), makes
		// an interval the validator may rightly reject
		// (pps.ValidatorConfig.Tolerance, 2 ms): judge only edges both
		// pulsed and stamped within 1 ms of the whole second.
		interval := time.Duration(e.IntervalNs)
		hostLate, guestLate := hostGap-hostGap.Round(time.Second), interval-interval.Round(time.Second)
		if hostLate.Abs() > time.Millisecond || guestLate.Abs() > time.Millisecond {
			t.Logf("edge %d: pulsed %v and stamped %v off the whole second; verdict %q not judged", i, hostLate, guestLate, e.Class)
			if i == skip {
				skipJudged = false
			}
			continue
		}
		want, wantMissed := "ok", int64(0)
		if i == skip {
			want, wantMissed = "missing", 1
		}
		if e.Class != want || e.Missed != wantMissed {
			t.Errorf("edge %d: validator says %s (missed %d), want %s (missed %d)", i, e.Class, e.Missed, want, wantMissed)
		}
	}
	if skipJudged && missed != 1 {
		t.Errorf("validator counted %d missed pulses, want 1", missed)
	}
	return missed
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// pulser pulses the line at every whole host second, like a receiver's
// PPS, until stopped; it can skip pulses and pause.
type pulser struct {
	q      *qmp
	paused atomic.Bool
	skip   atomic.Int32 // pulses still to skip
	sent   atomic.Int64
	first  atomic.Int64 // host ns of the first pulse
	err    atomic.Value // error
	stop   chan struct{}
	done   chan struct{}
}

func startPulser(q *qmp) *pulser {
	p := &pulser{q: q, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		next := time.Now().Truncate(time.Second).Add(time.Second)
		for {
			select {
			case <-p.stop:
				return
			case <-time.After(time.Until(next)):
			}
			next = time.Now().Truncate(time.Second).Add(time.Second)
			if p.paused.Load() {
				continue
			}
			if p.skip.Load() > 0 {
				p.skip.Add(-1)
				continue
			}
			at, err := p.q.pulse()
			if err != nil {
				p.err.Store(err)
				return
			}
			p.first.CompareAndSwap(0, at.UnixNano())
			p.sent.Add(1)
		}
	}()
	return p
}

func (p *pulser) close() { close(p.stop); <-p.done }

// waitStatus polls gpsntpd's status every second until ok holds, and
// returns that status; it fails the test after limit, showing the last.
func waitStatus(t *testing.T, r *rig, p *pulser, limit time.Duration, what string, ok func(agentwire.Status) bool) agentwire.Status {
	t.Helper()
	s, held, err := pollStatus(t, r, p, limit, ok)
	if !held {
		t.Fatalf("gpsntpd: not %s within %v; last status %+v (error %v)", what, limit, s, err)
	}
	return s
}

// pollStatus is waitStatus that reports a timeout instead of failing.
func pollStatus(t *testing.T, r *rig, p *pulser, limit time.Duration, ok func(agentwire.Status) bool) (last agentwire.Status, held bool, lastErr error) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if err, _ := p.err.Load().(error); err != nil {
			t.Fatalf("pulses: %v", err)
		}
		l := r.con.wait(r.con.send("status"), 20*time.Second, "status")
		var s agentwire.Status
		if lastErr = decodeAnswer(l, &s); lastErr == nil {
			last = s
			if ok(s) {
				return s, true, nil
			}
		}
		time.Sleep(time.Second)
	}
	return last, false, lastErr
}

// waitLocked waits for gpsntpd to lock to PPS (refid PPS) and reports
// the time from the first pulse as the BENCH figure bench.
func waitLocked(t *testing.T, r *rig, p *pulser, bench string) agentwire.Status {
	t.Helper()
	s := waitStatus(t, r, p, 4*time.Minute, "locked to PPS", func(s agentwire.Status) bool { return s.State == "pps" })
	toPPS := time.Since(time.Unix(0, p.first.Load()))
	t.Logf("BENCH %s %.1fs (edges %d, paired %d, sent %d)", bench, toPPS.Seconds(), s.PPS.Edges, s.PPS.Paired, p.sent.Load())
	if s.RefID != "PPS" {
		t.Errorf("state pps with refid %q, want PPS", s.RefID)
	}
	return s
}

// skipOnePulse skips one pulse and waits for gpsntpd to count it missed.
// An edge the emulated guest stamps late makes the gap "period out of
// range" instead (a bad edge, rightly): then it tries again, up to three
// times.
func skipOnePulse(t *testing.T, r *rig, p *pulser, s agentwire.Status) agentwire.Status {
	t.Helper()
	for try := 1; try <= 3; try++ {
		missed0, bad0 := s.PPS.Missed, s.PPS.Bad
		p.skip.Store(1)
		var held bool
		s, held, _ = pollStatus(t, r, p, 15*time.Second, func(s agentwire.Status) bool { return s.PPS.Missed > missed0 })
		if held {
			if s.PPS.Missed != missed0+1 {
				t.Errorf("missed pulses %d → %d after skipping one", missed0, s.PPS.Missed)
			}
			t.Logf("skipped one pulse: missed %d → %d, state %s", missed0, s.PPS.Missed, s.State)
			return s
		}
		t.Logf("skipped pulse %d not counted missed (bad edges %d → %d: stamped late?); again", try, bad0, s.PPS.Bad)
	}
	t.Fatalf("gpsntpd counted none of three skipped pulses as missed; last status %+v", s)
	return s
}

// startGPS plays a GPS receiver into the guest until t ends: the simulated
// receiver on the USB serial port (GPS time = host time, bursts 120 ms
// after the second) and PPS pulses on the PL061 line at every whole
// second.
func startGPS(t *testing.T, r *rig) *pulser {
	t.Helper()
	gc, err := dialRetry(r.gpsSock, 10*time.Second)
	if err != nil {
		t.Fatalf("connect to the guest's USB serial port: %v", err)
	}
	t.Cleanup(func() { gc.Close() })
	tl := simtime.Timeline{StartHostNs: time.Now().UnixNano()}
	rx, err := sim.New(sim.Config{Timeline: tl, Baud: 9600, Delay: 120 * time.Millisecond, Seed: 1}, gc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go rx.Run(ctx)
	p := startPulser(r.qmp)
	t.Cleanup(p.close)
	return p
}

// daemonPhase runs gpsntpd in the guest on the PL061 line, with the
// host's simulated receiver (GPS time = host time) labelling the seconds
// the host pulses.
func daemonPhase(t *testing.T, r *rig) {
	p := startGPS(t, r)

	r.con.call(10*time.Second, nil, "start", "/etc/label.conf")
	var li pps.LineInfo
	deadline := time.Now().Add(30 * time.Second)
	for {
		r.con.call(10*time.Second, &li, "lineinfo", pl061, ppsLine)
		if slices.Contains(li.Flags, "used") || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("gpsntpd holds the line: consumer %q flags %v", li.Consumer, li.Flags)
	if li.Consumer != "gpsntp-pps" || !sameSet(li.Flags, wantFlags) {
		t.Errorf("line info = consumer %q flags %v, want consumer gpsntp-pps flags %v", li.Consumer, li.Flags, wantFlags)
	}

	s := waitLocked(t, r, p, "vm-gpio-first-pulse-to-pps")

	// One pulse skipped: counted as missed, and the lock holds.
	s = skipOnePulse(t, r, p, s)

	// The GPIO controller vanishes under the daemon and comes back: an
	// alarm, then the line reopened and edges again.
	r.con.call(10*time.Second, nil, "unbind", pl061)
	s = waitStatus(t, r, p, 30*time.Second, "alarmed by the vanished GPIO chip", func(s agentwire.Status) bool { return s.Alarm("cannot be opened") })
	t.Logf("controller unbound: alarm %q", s.Alarms)
	r.con.call(10*time.Second, nil, "bind", pl061)
	edges := s.PPS.Edges
	s = waitStatus(t, r, p, 60*time.Second, "reading edges from the rebound chip", func(s agentwire.Status) bool {
		return s.PPS.Edges > edges+2 && !s.Alarm("cannot be opened")
	})
	t.Logf("controller bound again: edges %d → %d, state %s, alarms %q", edges, s.PPS.Edges, s.State, s.Alarms)

	// Pulses stop: the daemon falls back to NMEA time and says why.
	p.paused.Store(true)
	s = waitStatus(t, r, p, 60*time.Second, "alarmed by the silent PPS", func(s agentwire.Status) bool { return s.Alarm("no pulses") })
	t.Logf("pulses stopped: state %s refid %s, alarm %q", s.State, s.RefID, s.Alarms)
	if s.State == "pps" {
		t.Errorf("state still pps with no pulses for 30 s")
	}
	if s.Alarm("dtoverlay") {
		t.Errorf("alarms %q advise a dtoverlay, which the GPIO character device does not need", s.Alarms)
	}
	p.paused.Store(false)
	edges = s.PPS.Edges
	s = waitStatus(t, r, p, 30*time.Second, "clear of the silence alarm", func(s agentwire.Status) bool { return s.PPS.Edges > edges && !s.Alarm("no pulses") })

	// A restart with the pps line changed (the chip by path, not label):
	// the line is released on exit and requested again.
	var stop struct {
		Ms   int64  `json:"ms"`
		Exit string `json:"exit"`
	}
	r.con.call(30*time.Second, &stop, "stop")
	t.Logf("gpsntpd stopped in %d ms, exit %s", stop.Ms, stop.Exit)
	if stop.Exit != "0" {
		t.Errorf("gpsntpd exit on SIGTERM: %s", stop.Exit)
	}
	r.con.call(10*time.Second, &li, "lineinfo", pl061, ppsLine)
	if slices.Contains(li.Flags, "used") {
		t.Errorf("line still requested after gpsntpd exited: %+v", li)
	}
	r.con.call(10*time.Second, nil, "start", "/etc/path.conf")
	s = waitStatus(t, r, p, 90*time.Second, "pairing edges after the restart", func(s agentwire.Status) bool { return s.PPS.Paired > 0 })
	t.Logf("restarted with `pps gpio 3 chip /dev/gpiochip0`: edges %d, paired %d, state %s", s.PPS.Edges, s.PPS.Paired, s.State)
	r.con.call(30*time.Second, &stop, "stop")
}
