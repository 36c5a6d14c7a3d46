package gps_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/gps"
	"github.com/gpsntp/gpsntp/gps/sim"
	"go.bug.st/serial"
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
	_, err := pacedWriteTimes(ctx, w, b, baud, nil, nil)
	return err
}

// pacedChunk is how many bytes pacedWrite writes at a time.
const pacedChunk = 8

// pacedLog is what pacedWriteTimes did: when it started, when each chunk
// of pacedChunk bytes really went into the pty (host ns, taken just before
// the write), and which probe ping followed which chunk.
type pacedLog struct {
	startNs int64
	atNs    []int64
	pings   map[int]int // chunk → ping
	btNs    int64       // one byte's wire time
	n       int         // bytes written in all
}

// dueNs is when chunk c was due: when its last byte would have left the
// wire.
func (l *pacedLog) dueNs(c int) int64 {
	return l.startNs + int64(min((c+1)*pacedChunk, l.n)-1)*l.btNs
}

// sentNs is when byte k went on the line: its chunk's write time, less the
// wire time of the bytes after it in the chunk.
func (l *pacedLog) sentNs(k int) int64 {
	c := k / pacedChunk
	return l.atNs[c] - int64(min((c+1)*pacedChunk, l.n)-1-k)*l.btNs
}

// pacedWriteTimes is pacedWrite logging when each chunk really went into
// the pty: on a loaded machine the writer's sleeps overshoot, and a test of
// the receiver's arrival times must compare with when the bytes came, not
// with when they were due. Right after each chunk named in probeChunks it
// pings p (if not nil), so the test can tell how late a reader woke for
// that chunk.
func pacedWriteTimes(ctx context.Context, w *os.File, b []byte, baud int, p *wakeProbe, probeChunks map[int]bool) (*pacedLog, error) {
	bt := 10 * time.Second / time.Duration(baud)
	start := time.Now()
	l := &pacedLog{startNs: start.UnixNano(), pings: map[int]int{}, btNs: int64(bt), n: len(b)}
	for i := 0; i < len(b); i += pacedChunk {
		j := min(i+pacedChunk, len(b))
		time.Sleep(time.Until(start.Add(time.Duration(j-1) * bt)))
		if ctx.Err() != nil {
			return l, ctx.Err()
		}
		l.atNs = append(l.atNs, time.Now().UnixNano())
		if _, err := w.Write(b[i:j]); err != nil {
			return l, err
		}
		if c := i / pacedChunk; p != nil && probeChunks[c] {
			l.pings[c] = p.ping()
		}
	}
	return l, nil
}

// wakeProbe measures what the load does to a reader like the Receiver's:
// a second pty read through go.bug.st/serial with the Receiver's default
// read timeout, the time taken when a read returns. Each ping writes one
// byte and notes when; the reader notes how late it returned with it.
type wakeProbe struct {
	master *os.File
	mu     sync.Mutex
	sentNs []int64 // host time just before each ping's write
	lagNs  []int64 // how late the reader returned with each ping read so far
}

// startWakeProbe opens a probe pty and reads it until stop is called.
func startWakeProbe(t *testing.T, baud int) (p *wakeProbe, stop func()) {
	t.Helper()
	master, slave := newPTY(t)
	port, err := serial.Open(slave, &serial.Mode{BaudRate: baud, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit})
	if err != nil {
		t.Fatalf("probe: open %s: %v", slave, err)
	}
	if err := port.SetReadTimeout(20 * time.Millisecond); err != nil {
		port.Close()
		t.Fatalf("probe: %s: set read timeout: %v", slave, err)
	}
	p = &wakeProbe{master: master}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer port.Close()
		buf := make([]byte, 256)
		for ctx.Err() == nil {
			n, err := port.Read(buf)
			nowNs := time.Now().UnixNano()
			if err != nil {
				return
			}
			p.mu.Lock()
			for range n { // one byte per ping, in order
				p.lagNs = append(p.lagNs, nowNs-p.sentNs[len(p.lagNs)])
			}
			p.mu.Unlock()
		}
	}()
	return p, func() { cancel(); <-done }
}

// ping writes one byte to the probe and returns its number.
func (p *wakeProbe) ping() int {
	p.mu.Lock()
	i := len(p.sentNs)
	p.sentNs = append(p.sentNs, time.Now().UnixNano())
	p.mu.Unlock()
	p.master.Write([]byte{'.'})
	return i
}

// lag is how late the probe's reader returned with ping i, or -1 if it has
// not (yet).
func (p *wakeProbe) lag(i int) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if i < len(p.lagNs) {
		return p.lagNs[i]
	}
	return -1
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
// same bytes yields, each fix's arrival time being when its epoch's first
// byte went on the wire (judged on the epochs the load left alone: see
// replay); once more with bursts of junk spliced in (what the junk costs
// offline is TestGarbageLosesOnlyTouchedEpochs).
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

// Load on the machine (other tests, CPU hogs) can wake the Receiver's
// reader late, or make the test's writer catch up on a late sleep by
// writing chunks back to back, faster than a UART would; either moves an
// arrival time by up to the disturbance, which is not the Receiver's
// error. replay measures both per epoch (the writer's log; a probe pty
// read like the Receiver's) and judges only the epochs the load left
// alone.
const (
	// replayMaxLateNs: a writer off its pace or a probe reader later
	// than this is the load talking (on an idle machine both stay well
	// below it; gps/sim's TestSimThroughReceiver draws the line there
	// too).
	replayMaxLateNs = int64(2 * time.Millisecond)
	// replayHorizonNs: how late a read that took in an epoch's first byte
	// may have returned for the writer's pace to matter; the writer must
	// keep it this long after the epoch's first chunk.
	replayHorizonNs = int64(10 * time.Millisecond)
	// replayMinEpochs: how many undisturbed epochs replay judges at least
	// (fewer if the data has fewer), playing the data up to replayMaxRuns
	// times to collect them. Under two CPU hogs and other tests, the pty
	// itself often delivers late for a whole run (the kernel hands pty
	// writes on to the reader through a workqueue thread, which waits for
	// a core like everyone else): probe and Receiver then show the same
	// lateness, and those epochs measure the kernel, not the Receiver.
	replayMinEpochs = 5
	replayMaxRuns   = 6
)

// replay plays data into a Receiver on a pty at baud, byte by byte in
// time, and checks that the Receiver yields what offline decoding yields,
// and that each fix's arrival time is when its epoch's first byte went on
// the wire (so arrivals are spaced like the epochs on the wire, and a
// constant error, such as forgetting the wire time of the bytes read after
// the first, shows too).
func replay(t *testing.T, data []byte, floor time.Time, baud int) {
	want, wantSt := gps.DecodeCapture(data, floor)
	defer func() {
		if t.Failed() {
			t.Logf("offline: %+v", wantSt)
		}
	}()
	off := epochOffsets(t, data, floor)
	need := min(len(off), replayMinEpochs)
	var errs []time.Duration
	var notes []string
	for run := 1; ; run++ {
		e, n := replayOnce(t, data, floor, baud, want, off)
		errs = append(errs, e...)
		for _, s := range n {
			notes = append(notes, fmt.Sprintf("run %d: %s", run, s))
		}
		if t.Failed() || len(errs) >= need {
			break
		}
		if run == replayMaxRuns {
			t.Fatalf("only %d epochs the load left alone in %d runs, want %d:\n%s",
				len(errs), run, need, strings.Join(notes, "\n"))
		}
		t.Logf("run %d: %d of %d undisturbed epochs so far; playing again", run, len(errs), need)
	}
	// A read can still be delayed where the probe's was not (another
	// thread, another core): the median must be tight.
	slices.Sort(errs)
	if errs[len(errs)/2] > 2*time.Millisecond {
		t.Errorf("median |arrival − first byte sent| %v over epochs the load left alone, want ≤ 2 ms (all %v):\n%s",
			errs[len(errs)/2], errs, strings.Join(notes, "\n"))
	}
	t.Logf("%d undisturbed epochs, |arrival − first byte sent| %v:\n%s", len(errs), errs, strings.Join(notes, "\n"))
}

// replayOnce is one run of replay: it checks the fixes and returns
// |arrival − first byte sent| of the epochs the load left alone, with a
// note per epoch.
func replayOnce(t *testing.T, data []byte, floor time.Time, baud int, want []gps.Fix, off []int) (errs []time.Duration, notes []string) {
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
	probe, stopProbe := startWakeProbe(t, baud)
	defer stopProbe()
	firstChunks := map[int]bool{} // chunks holding an epoch's first byte
	for _, k := range off {
		firstChunks[k/pacedChunk] = true
	}

	wl, err := pacedWriteTimes(ctx, master, data, baud, probe, firstChunks)
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
	if st := r.Stats(); st.Dropped != 0 || t.Failed() {
		t.Errorf("stats: %+v", st)
	}

	// The Receiver dates an epoch by the read that returned its first
	// byte: read time less the wire time of the bytes after it in that
	// read. Its error is how late that read returned after the last write
	// it took in, plus how far the writer strayed from its UART pace
	// between the first byte's chunk and that write (a writer catching up
	// on a late sleep hands over chunks faster than a UART would). So an
	// epoch is judged only if the writer kept its pace over the chunks a
	// read up to replayHorizonNs late could take in with its first byte,
	// and the probe's reader, pinged right after that byte's chunk, woke
	// on time.
	for i := 0; i < len(got) && i < len(off); i++ {
		c := off[i] / pacedChunk
		var writerOffNs int64
		for j := c + 1; j < len(wl.atNs) && wl.atNs[j] <= wl.atNs[c]+replayHorizonNs; j++ {
			d := (wl.atNs[j] - wl.atNs[c]) - (wl.dueNs(j) - wl.dueNs(c))
			writerOffNs = max(writerOffNs, d, -d)
		}
		lag := int64(-1)
		if ping, ok := wl.pings[c]; ok {
			lag = probe.lag(ping)
		}
		d := time.Duration(got[i].ArrivalNs - wl.sentNs(off[i]))
		var why string
		switch {
		case writerOffNs > replayMaxLateNs:
			why = fmt.Sprintf("writer off its pace by %v", time.Duration(writerOffNs))
		case lag < 0:
			why = "probe reader had not read its ping"
		case lag > replayMaxLateNs:
			why = fmt.Sprintf("probe reader woke %v late", time.Duration(lag))
		}
		note := fmt.Sprintf("epoch %d: arrival − first byte sent %v, writer off its pace by %v, probe reader late %v",
			i, d, time.Duration(writerOffNs), time.Duration(lag))
		if why != "" {
			note += "; not judged: " + why
		} else {
			errs = append(errs, max(d, -d))
		}
		notes = append(notes, note)
		// Gross errors, judged on every epoch but those the load
		// measurably disturbed by as much; the median is the fine check.
		if (d > 100*time.Millisecond || d < -100*time.Millisecond) && max(writerOffNs, lag) < int64(50*time.Millisecond) && lag >= 0 {
			t.Errorf("epoch %d: arrival − first byte sent %v (writer off its pace by %v, probe reader late %v)", i, d, time.Duration(writerOffNs), time.Duration(lag))
		}
	}
	return errs, notes
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
