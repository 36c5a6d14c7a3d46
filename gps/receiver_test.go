package gps_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/gps"
	"github.com/gpsntp/gpsntp/gps/sim"
)

func mt3339Slice(t *testing.T, maxBytes int) (data []byte, date time.Time) {
	t.Helper()
	b, err := os.ReadFile("testdata/nmea/mt3339.log")
	if err != nil {
		t.Fatal(err)
	}
	c, err := gps.ParseCapture(b)
	if err != nil {
		t.Fatal(err)
	}
	data = c.Data
	if len(data) > maxBytes {
		data = data[:maxBytes]
	}
	return data, c.Date
}

// pacedWrite writes b to w as a UART at baud delivers it: chunks written
// when their last byte would have left the wire.
func pacedWrite(ctx context.Context, w *os.File, b []byte, baud int) error {
	_, err := pacedWriteTimes(ctx, w, b, baud)
	return err
}

// pacedChunk is how many bytes pacedWrite writes at a time.
const pacedChunk = 8

// pacedWriteTimes is pacedWrite returning when each chunk of pacedChunk
// bytes really went into the pty (host ns, taken just before the write):
// on a loaded machine the writer's sleeps overshoot, and a test of the
// receiver's arrival times must compare with when the bytes came, not with
// when they were due.
func pacedWriteTimes(ctx context.Context, w *os.File, b []byte, baud int) ([]int64, error) {
	bt := 10 * time.Second / time.Duration(baud)
	start := time.Now()
	var at []int64
	for i := 0; i < len(b); i += pacedChunk {
		j := min(i+pacedChunk, len(b))
		time.Sleep(time.Until(start.Add(time.Duration(j-1) * bt)))
		if ctx.Err() != nil {
			return at, ctx.Err()
		}
		at = append(at, time.Now().UnixNano())
		if _, err := w.Write(b[i:j]); err != nil {
			return at, err
		}
	}
	return at, nil
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestReceiverPTYReplay replays a real capture (Adafruit HAT, MT3339) through a
// real pty at 4800, 9600 and 115200 baud byte timing into the serial
// Receiver and checks that it yields exactly what offline decoding of the
// same bytes yields, with arrival times spaced like the bytes on the wire;
// once more with bursts of junk spliced in (what the junk costs offline is
// TestGarbageLosesOnlyTouchedEpochs).
func TestReceiverPTYReplay(t *testing.T) {
	for _, tc := range []struct {
		name     string
		baud     int
		maxBytes int // ~2.5 s of wire time
		garbage  bool
	}{
		{"4800", 4800, 1300, false},
		{"9600", 9600, 2600, false},
		{"115200", 115200, 1 << 20, false},
		{"9600 with garbage", 9600, 2600, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, date := mt3339Slice(t, tc.maxBytes)
			if tc.garbage {
				data = withJunk(data, 7)
			}
			replay(t, data, gps.FloorFromApproxDate(date), tc.baud)
		})
	}
}

// withJunk splices seeded bursts of junk (binary, NULs, a cut sentence,
// printable noise) into data, about one per 300 bytes.
func withJunk(data []byte, seed uint64) []byte {
	junks := [][]byte{
		{0xb5, 0x62, 0x01, 0x07, 0x5c, 0x00, 0xff},
		{0, 0, 0, 0x80, 0xff},
		[]byte("$GPGGA,2026"),
		[]byte("*\r4,,$$!GP\n9"),
	}
	var out []byte
	for i := 0; i < len(data); i += 300 {
		j := min(i+300, len(data))
		at := i + int((seed*uint64(i+1)*2654435761)%uint64(j-i))
		out = append(out, data[i:at]...)
		out = append(out, junks[(i/300)%len(junks)]...)
		out = append(out, data[at:j]...)
	}
	return out
}

func replay(t *testing.T, data []byte, floor time.Time, baud int) {
	want, wantSt := gps.DecodeCapture(data, floor)
	defer func() {
		if t.Failed() {
			t.Logf("offline: %+v", wantSt)
		}
	}()

	master, slave, err := sim.OpenPTY()
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	defer master.Close()
	// Stale bytes written before the receiver opens must not come out.
	master.Write([]byte("$GPRMC,000000.000,A,4404.1306,N,12118.8515,W,0.03,225.97,010101,,,D*7E\r\n"))

	// The capture's epochs are written back to back: a burst gap longer
	// than a writer stall on a loaded host keeps the grouping offline's.
	r, ctx, cancel, out, done := startReceiver(t, gps.Config{Device: slave, Baud: baud, ReferenceDate: floor, IdleFlush: 400 * time.Millisecond}, 20*time.Second, 64)
	waitFor(t, "device open", 5*time.Second, func() bool { return r.Stats().Device == gps.DeviceOpen })

	writes, err := pacedWriteTimes(ctx, master, data, baud)
	if err != nil {
		t.Fatal(err)
	}
	got := collectFixes(out, len(want), 3*time.Second)
	cancel()
	<-done

	if len(got) != len(want) {
		t.Fatalf("receiver gave %d fixes, offline decoding %d (stats %+v)", len(got), len(want), r.Stats())
	}
	for i := range want {
		g, w := got[i], want[i]
		if !g.Time.Equal(w.Time) || g.TimeValid != w.TimeValid || g.Mode != w.Mode || g.SatsUsed != w.SatsUsed ||
			g.Sentences != w.Sentences || g.LatDeg != w.LatDeg || len(g.Satellites) != len(w.Satellites) {
			t.Errorf("fix %d: receiver %v valid=%v mode=%d used=%d n=%d, offline %v valid=%v mode=%d used=%d n=%d",
				i, g.Time, g.TimeValid, g.Mode, g.SatsUsed, g.Sentences, w.Time, w.TimeValid, w.Mode, w.SatsUsed, w.Sentences)
		}
		if g.ArrivalNs == 0 {
			t.Errorf("fix %d: no arrival time", i)
		}
	}
	// Consecutive epochs are written back to back, so their arrival spacing
	// is their distance on the wire: byte distance at the line rate, plus
	// however late the writer's sleeps made the chunks holding their first
	// bytes. A single read can be delayed by scheduling noise; the median
	// must be tight.
	off := epochOffsets(t, data, floor)
	bt := int64(10 * time.Second / time.Duration(baud))
	// sent is when byte k went on the line: its chunk's write time, less
	// the wire time of the bytes after it in the chunk.
	sent := func(k int) int64 {
		c := k / pacedChunk
		last := min((c+1)*pacedChunk, len(data)) - 1
		return writes[c] - int64(last-k)*bt
	}
	var errs []time.Duration
	for i := 1; i < len(got) && i < len(off); i++ {
		wantNs := sent(off[i]) - sent(off[i-1])
		d := time.Duration(got[i].ArrivalNs - got[i-1].ArrivalNs - wantNs)
		errs = append(errs, max(d, -d))
		if d > 100*time.Millisecond || d < -100*time.Millisecond { // gross errors; the median is the fine check
			t.Errorf("arrival spacing %d→%d off by %v (byte distance %d)", i-1, i, d, off[i]-off[i-1])
		}
	}
	slices.Sort(errs)
	if len(errs) > 0 && errs[len(errs)/2] > 2*time.Millisecond {
		t.Errorf("median arrival spacing error %v, want ≤ 2 ms (all %v)", errs[len(errs)/2], errs)
	}
	if st := r.Stats(); st.Dropped != 0 || t.Failed() {
		t.Errorf("stats: %+v", st)
	}
}

// epochOffsets returns the byte offset of each epoch's first sentence, by
// decoding with a synthetic clock of 1 ns per byte.
func epochOffsets(t *testing.T, data []byte, floor time.Time) []int {
	s := gps.NewStream(floor)
	// ArrivalNs = 1e12 + offset: non-zero, and gaps never exceed the burst gap.
	fixes := s.Feed(nil, data, 1e12, 1)
	fixes = s.Flush(fixes)
	off := make([]int, len(fixes))
	for i, f := range fixes {
		off[i] = int(f.ArrivalNs - 1e12)
	}
	return off
}

// TestReceiverDeviceLost unplugs and replugs a receiver: the device path is
// a symlink to a pty slave; closing the master makes reads fail, and a new
// pty behind the same path is found again.
func TestReceiverDeviceLost(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(dir, "gps0")
	m1, s1 := newPTY(t)
	pointAt(t, link, s1)
	r, ctx, cancel, out, done := startReceiver(t, gps.Config{Device: link, Baud: 9600, ReopenMin: 20 * time.Millisecond, ReopenMax: 50 * time.Millisecond}, 10*time.Second, 16)
	waitFor(t, "open", 3*time.Second, func() bool { return r.Stats().Device == gps.DeviceOpen })

	m1.Close() // unplug
	waitFor(t, "lost", 3*time.Second, func() bool { return r.Stats().Device == gps.DeviceLost })
	if st := r.Stats(); st.Losses != 1 || st.DeviceErr == "" {
		t.Errorf("after unplug: %+v", st)
	}

	m2, s2 := newPTY(t) // replug
	pointAt(t, link, s2)
	waitFor(t, "found again", 3*time.Second, func() bool { return r.Stats().Device == gps.DeviceOpen })
	if st := r.Stats(); st.Opens != 2 {
		t.Errorf("after replug: Opens = %d, want 2", st.Opens)
	}
	// And it reads: one epoch of the capture.
	data, _ := mt3339Slice(t, 4000)
	go pacedWrite(ctx, m2, data[:600], 115200)
	select {
	case f := <-out:
		if f.Sentences == 0 {
			t.Errorf("empty fix %+v", f)
		}
	case <-time.After(3 * time.Second):
		t.Errorf("no fix after replug: %+v", r.Stats())
	}
	cancel()
	<-done
}

// TestReceiverAutoBaud: Baud 0 settles on the rate that yields valid
// checksums. The far side is a sim.UART that delivers junk unless the port
// is set to its rate (a bare pty carries bytes at any rate, so detection
// could not fail), sending at rates tried third and fourth.
func TestReceiverAutoBaud(t *testing.T) {
	for _, baud := range []int{38400, 115200} {
		t.Run(fmt.Sprint(baud), func(t *testing.T) {
			m, s, err := sim.OpenPTY()
			if err != nil {
				t.Skipf("no pty: %v", err)
			}
			defer m.Close()
			data, date := mt3339Slice(t, 1<<20)
			floor := gps.FloorFromApproxDate(date)
			r, ctx, cancel, out, done := startReceiver(t, gps.Config{Device: s, AutoBaudWindow: 400 * time.Millisecond, ReferenceDate: floor}, 15*time.Second, 64)
			u := &sim.UART{Master: m, Baud: baud}
			go func() {
				for ctx.Err() == nil {
					u.Write(ctx, data)
				}
			}()
			waitFor(t, "baud detected", 10*time.Second, func() bool { return r.Stats().Device == gps.DeviceOpen })
			if b := r.Stats().Baud; b != baud {
				t.Errorf("Baud = %d, want %d", b, baud)
			}
			want, _ := gps.DecodeCapture(data, floor)
			valid := map[time.Time]bool{}
			for _, f := range want {
				if f.TimeValid {
					valid[f.Time] = true
				}
			}
			select {
			case f := <-out:
				if f.TimeValid && !valid[f.Time] {
					t.Errorf("fix %v is not in the capture", f.Time)
				}
			case <-time.After(3 * time.Second):
				t.Errorf("no fix after auto-baud: %+v", r.Stats())
			}
			if u.Garbled() == 0 {
				t.Errorf("the UART never saw a wrong rate: the test proves nothing")
			}
			cancel()
			<-done
		})
	}
}

// TestReceiverInit: the init commands go out after every open, in order,
// paced, and again after the receiver was unplugged and plugged back in.
func TestReceiverInit(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(dir, "gps0")
	m1, s1 := newPTY(t)
	pointAt(t, link, s1)
	cmds := [][]byte{
		{0xB5, 0x62, 0x06, 0x01, 0x03, 0x00, 0xF0, 0x08, 0x01, 0x03, 0x20}, // UBX-CFG-MSG: ZDA on
		[]byte("$PMTK220,1000*1F\r\n"),
		[]byte("$PCAS02,1000*2E\r\n"),
	}
	const gap = 60 * time.Millisecond
	r, _, cancel, _, done := startReceiver(t, gps.Config{Device: link, Baud: 9600, Init: cmds, InitGap: gap,
		ReopenMin: 20 * time.Millisecond, ReopenMax: 50 * time.Millisecond}, 15*time.Second, 16)

	var all []byte
	for _, c := range cmds {
		all = append(all, c...)
	}
	// readInit reads what the receiver wrote and when each command's
	// first byte came.
	readInit := func(m *os.File) {
		t.Helper()
		var got []byte
		var at []time.Time
		buf := make([]byte, 256)
		deadline := time.Now().Add(5 * time.Second)
		for len(got) < len(all) && time.Now().Before(deadline) {
			m.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			n, _ := m.Read(buf)
			if n > 0 {
				at = append(at, time.Now())
				got = append(got, buf[:n]...)
			}
		}
		if !bytes.Equal(got, all) {
			t.Fatalf("far side read %q, want %q", got, all)
		}
		// Paced: the three commands cannot have come in fewer than three
		// reads spread over at least two gaps.
		if len(at) < 3 || at[len(at)-1].Sub(at[0]) < 2*gap-10*time.Millisecond {
			t.Errorf("init not paced: %d reads over %v", len(at), at[len(at)-1].Sub(at[0]))
		}
	}
	readInit(m1)
	waitFor(t, "init counted", time.Second, func() bool { return r.Stats().InitSent == 3 })

	m1.Close() // unplug
	waitFor(t, "lost", 3*time.Second, func() bool { return r.Stats().Device == gps.DeviceLost })
	m2, s2 := newPTY(t) // replug
	pointAt(t, link, s2)
	readInit(m2)
	waitFor(t, "init counted again", time.Second, func() bool { return r.Stats().InitSent == 6 })
	if st := r.Stats(); st.InitErr != "" || st.Opens != 2 {
		t.Errorf("stats %+v", st)
	}
	cancel()
	<-done
}

// TestReceiverReplugMidStream: the far side of the pty closes in the middle
// of a sentence and a new one appears behind the same path, the receiver
// having moved on meanwhile (bytes in between are lost; some are written
// before the port is reopened and must not come out). The Receiver must
// give exactly what offline decoding gives for the bytes it could have
// read, with a resync at the break: nothing stale, nothing twice.
func TestReceiverReplugMidStream(t *testing.T) {
	data, date := mt3339Slice(t, 1<<20)
	floor := gps.FloorFromApproxDate(date)
	const baud = 115200
	cut1, cut2 := len(data)*2/5+17, len(data)*3/5+5 // both mid-sentence

	s := gps.NewStream(floor)
	want := s.Feed(nil, data[:cut1], 0, 0)
	want = s.Flush(want) // the line goes quiet before the unplug is noticed
	s.Resync()
	want = s.Feed(want, data[cut2:], 0, 0)
	want = s.Flush(want)

	dir := t.TempDir()
	link := filepath.Join(dir, "gps0")
	m1, s1 := newPTY(t)
	pointAt(t, link, s1)
	r, ctx, cancel, out, done := startReceiver(t, gps.Config{Device: link, Baud: baud, ReferenceDate: floor, IdleFlush: 100 * time.Millisecond,
		ReopenMin: 50 * time.Millisecond, ReopenMax: 100 * time.Millisecond}, 20*time.Second, 128)
	waitFor(t, "open", 3*time.Second, func() bool { return r.Stats().Device == gps.DeviceOpen })
	if err := pacedWrite(ctx, m1, data[:cut1], baud); err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond) // idle flush of the cut epoch
	m1.Close()
	waitFor(t, "lost", 3*time.Second, func() bool { return r.Stats().Device == gps.DeviceLost })

	m2, s2 := newPTY(t)
	m2.Write(data[cut1:cut2]) // before the port can be reopened: discarded
	pointAt(t, link, s2)
	waitFor(t, "found again", 3*time.Second, func() bool { return r.Stats().Opens == 2 })
	time.Sleep(50 * time.Millisecond)
	if err := pacedWrite(ctx, m2, data[cut2:], baud); err != nil {
		t.Fatal(err)
	}
	got := collectFixes(out, len(want)+1, 3*time.Second) // one more than expected: catch extras
	cancel()
	<-done
	if len(got) != len(want) {
		for _, f := range got {
			t.Logf("got %v valid=%v n=%d", f.Time, f.TimeValid, f.Sentences)
		}
		t.Fatalf("receiver gave %d fixes, offline %d (stats %+v)", len(got), len(want), r.Stats())
	}
	var last time.Time
	for i := range want {
		g, w := got[i], want[i]
		if !g.Time.Equal(w.Time) || g.TimeValid != w.TimeValid || g.Mode != w.Mode || g.Sentences != w.Sentences {
			t.Errorf("fix %d: receiver %v valid=%v mode=%d n=%d, offline %v valid=%v mode=%d n=%d",
				i, g.Time, g.TimeValid, g.Mode, g.Sentences, w.Time, w.TimeValid, w.Mode, w.Sentences)
		}
		if g.TimeValid {
			if !g.Time.After(last) {
				t.Errorf("fix %d: %v repeats or precedes %v", i, g.Time, last)
			}
			last = g.Time
		}
	}
}

// collectFixes reads fixes from out until it has n or timeout passes.
func collectFixes(out <-chan gps.Fix, n int, timeout time.Duration) []gps.Fix {
	var got []gps.Fix
	deadline := time.After(timeout)
	for len(got) < n {
		select {
		case f := <-out:
			got = append(got, f)
		case <-deadline:
			return got
		}
	}
	return got
}

// startReceiver opens a Receiver with cfg and runs it until limit passes or
// cancel is called (also at the end of the test), delivering fixes on a
// channel with buf slots; done receives Run's result.
func startReceiver(t *testing.T, cfg gps.Config, limit time.Duration, buf int) (*gps.Receiver, context.Context, context.CancelFunc, chan gps.Fix, chan error) {
	t.Helper()
	r, err := gps.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	t.Cleanup(cancel)
	out := make(chan gps.Fix, buf)
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, out) }()
	return r, ctx, cancel, out, done
}

// newPTY opens a pty pair (skipping the test where there are none) and
// returns the master, closed at the end of the test, and the slave's path.
func newPTY(t *testing.T) (*os.File, string) {
	t.Helper()
	m, s, err := sim.OpenPTY()
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m, s
}

// pointAt makes the device path link (a symlink, as udev's
// /dev/serial/by-id names are) point at slave, as plugging a receiver in.
func pointAt(t *testing.T, link, slave string) {
	t.Helper()
	os.Remove(link)
	if err := os.Symlink(slave, link); err != nil {
		t.Fatal(err)
	}
}

// TestReceiverPreopen: Run starts on the descriptor Preopen opened (a
// daemon opens the device as root, then drops privileges), even when the
// path can no longer be opened.
func TestReceiverPreopen(t *testing.T) {
	link := filepath.Join(t.TempDir(), "gps0")
	m, s := newPTY(t)
	pointAt(t, link, s)
	r, err := gps.Open(gps.Config{Device: link, Baud: 115200})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Preopen(); err != nil {
		t.Fatal(err)
	}
	os.Remove(link) // from now on only the open descriptor reaches the pty
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out := make(chan gps.Fix, 16)
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, out) }()
	data, _ := mt3339Slice(t, 4000)
	go pacedWrite(ctx, m, data[:1200], 115200)
	if got := collectFixes(out, 1, 3*time.Second); len(got) == 0 {
		t.Errorf("no fix from the preopened device: %+v", r.Stats())
	}
	if st := r.Stats(); st.Opens != 1 {
		t.Errorf("Opens = %d, want 1", st.Opens)
	}
	cancel()
	<-done
}
