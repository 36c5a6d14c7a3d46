package vmtest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/pps"
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

// guestEdge is one "edge" answer of the agent's stream.
type guestEdge struct {
	Seq        uint32 `json:"seq"`
	AssertNs   int64  `json:"assert_ns"`
	ReadNs     int64  `json:"read_ns"`
	Class      string `json:"class"`
	Missed     int64  `json:"missed"`
	IntervalNs int64  `json:"interval_ns"`
}

// readEdges collects n edges of stream id, then its final answer.
func readEdges(t *testing.T, con *console, id string, n int) []guestEdge {
	t.Helper()
	var edges []guestEdge
	for len(edges) < n {
		l := con.wait(id, 10*time.Second, "edge", "edges", "kedges")
		if l.verb != "edge" {
			t.Fatalf("edge stream ended after %d of %d edges: %s", len(edges), n, l.body)
		}
		var e guestEdge
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
func checkEdges(t *testing.T, edges []guestEdge, sent []time.Time, skip int) int {
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
		// A host that woke late (a loaded machine) sent an interval the
		// validator may rightly reject (pps.ValidatorConfig.Tolerance,
		// 2 ms): judge only edges the host pulsed on time.
		if late := hostGap - hostGap.Round(time.Second); late.Abs() > time.Millisecond {
			t.Logf("edge %d: host pulse %v off the whole second; verdict %q not judged", i, late, e.Class)
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

func daemonPhase(t *testing.T, r *rig) {
	t.Skip("todo")
}
