package sim_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/gps"
	"github.com/gpsntp/gpsntp/gps/sim"
	"github.com/gpsntp/gpsntp/internal/simtime"
	"go.bug.st/serial"
)

// TestBurstDecodes: a burst decodes offline into one trusted 3D fix naming
// exactly its second, with the satellites it lists.
func TestBurstDecodes(t *testing.T) {
	for _, baud := range []int{4800, 9600, 115200} {
		r, err := sim.New(sim.Config{Baud: baud}, &bytes.Buffer{})
		if err != nil {
			t.Fatal(err)
		}
		n := time.Date(2027, 3, 1, 23, 59, 59, 0, time.UTC).Unix()
		var data []byte
		for i := int64(0); i < 3; i++ {
			data = append(data, r.Burst(n+i)...)
		}
		fixes, st := gps.DecodeCapture(data, gps.DefaultReferenceDate)
		if len(fixes) != 3 {
			t.Fatalf("baud %d: %d fixes, want 3 (%+v)", baud, len(fixes), st)
		}
		for i, f := range fixes {
			want := time.Unix(n+int64(i), 0).UTC()
			if !f.TimeValid || !f.Time.Equal(want) || f.Mode != gps.Mode3D || f.SatsUsed != 13 {
				t.Errorf("baud %d fix %d: %v valid=%v mode=%d used=%d, want %v valid 3D 13 used", baud, i, f.Time, f.TimeValid, f.Mode, f.SatsUsed, want)
			}
			if baud >= 9600 && (f.SatsInView != 15 || len(f.Satellites) != 15) {
				t.Errorf("baud %d fix %d: in view %d, satellites %d, want 15", baud, i, f.SatsInView, len(f.Satellites))
			}
		}
		if st.Framer.BadChecksum+st.Decoder.Recovered+st.Decoder.Rejected != 0 {
			t.Errorf("baud %d: %+v", baud, st)
		}
	}
}

func TestNewRejects(t *testing.T) {
	for _, c := range []sim.Config{
		{Delay: 10 * time.Millisecond},
		{Delay: 950 * time.Millisecond},
		{Baud: 4800, Delay: 900 * time.Millisecond}, // RMC+GGA+ZDA take ~0.4 s
		{DropFraction: 2},
	} {
		if _, err := sim.New(c, &bytes.Buffer{}); err == nil {
			t.Errorf("New(%+v) accepted", c)
		}
	}
}

// writeLog records when each write to the pty really happened: on a
// loaded machine the simulator's sleeps overshoot, and the receiver's
// arrival times must be compared with when the bytes came, not with when
// they were due.
//
// It also measures what the load does to a reader: right after the first
// write of each burst it writes a chunk to a probe pty whose reader, read
// like the receiver's (go.bug.st/serial, blocking read, time taken when it
// returns), records how late it woke.
type writeLog struct {
	w      io.Writer
	mu     sync.Mutex
	data   []byte  // everything written
	offset []int   // where each write starts in data
	atNs   []int64 // host time just before each write

	probe      io.Writer
	probeAtNs  map[int]int64 // burst's offset in data → probe write time
	probeLagNs map[int]int64 // burst's offset in data → probe reader's lateness
	probeOrder []int         // bursts probed, in order
}

var burstHead = []byte("$GNRMC,")

func (l *writeLog) Write(b []byte) (int, error) {
	l.mu.Lock()
	k := len(l.data)
	l.offset = append(l.offset, k)
	l.data = append(l.data, b...)
	l.atNs = append(l.atNs, time.Now().UnixNano())
	l.mu.Unlock()
	n, err := l.w.Write(b)
	if l.probe != nil && bytes.HasPrefix(b, burstHead) {
		l.mu.Lock()
		l.probeAtNs[k] = time.Now().UnixNano()
		l.probeOrder = append(l.probeOrder, k)
		l.mu.Unlock()
		_, _ = l.probe.Write(b)
	}
	return n, err
}

// startProbe opens the probe pty and reads it until ctx is done.
func (l *writeLog) startProbe(t *testing.T, ctx context.Context, baud int) {
	master, slave, err := sim.OpenPTY()
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	p, err := serial.Open(slave, &serial.Mode{BaudRate: baud, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit})
	if err != nil {
		t.Fatalf("probe: %v", err)
	}
	if err := p.SetReadTimeout(100 * time.Millisecond); err != nil {
		t.Fatalf("probe: %v", err)
	}
	l.probe, l.probeAtNs, l.probeLagNs = master, map[int]int64{}, map[int]int64{}
	go func() {
		defer p.Close()
		buf := make([]byte, 4096)
		read := 0 // probe chunks read so far (each write is one burst's first chunk)
		pending := 0
		for ctx.Err() == nil {
			n, err := p.Read(buf)
			now := time.Now().UnixNano()
			if err != nil {
				return
			}
			if n == 0 {
				continue
			}
			pending += n
			l.mu.Lock()
			for read < len(l.probeOrder) && pending > 0 {
				k := l.probeOrder[read]
				c := l.chunkLen(k)
				if pending < c {
					break
				}
				pending -= c
				l.probeLagNs[k] = now - l.probeAtNs[k]
				read++
			}
			l.mu.Unlock()
		}
	}()
}

// chunkLen is the length of the write at offset k (l.mu held).
func (l *writeLog) chunkLen(k int) int {
	i := slices.Index(l.offset, k)
	if i+1 < len(l.offset) {
		return l.offset[i+1] - k
	}
	return len(l.data) - k
}

// probeLag is how late the probe reader woke for the burst naming second
// n, or -1 if it has not read it (yet).
func (l *writeLog) probeLag(n int64) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	head := []byte("$GNRMC," + time.Unix(n, 0).UTC().Format("150405") + ".00,")
	k := bytes.Index(l.data, head)
	if lag, ok := l.probeLagNs[k]; ok && k >= 0 {
		return lag
	}
	return -1
}

// burstTiming is when the burst naming GPS second n really went out, as
// bounds on its first byte's arrival that a reader timestamping reads and
// subtracting (bytes−1) byte times can recover: hi from the first write
// alone (its last byte just written), lo from whichever later write, read
// together with everything before it, puts the first byte earliest (a late
// writer hands over several chunks at once, faster than a UART would).
// With a writer on time both are the burst's due start. stallNs is the
// longest the writer fell silent inside the burst beyond the wire time;
// lateNs how late its first write was; quietNs the silence before it.
func (l *writeLog) burstTiming(t *testing.T, n int64, dueNs, btNs int64) (lo, hi, lateNs, stallNs, quietNs int64, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	head := []byte("$GNRMC," + time.Unix(n, 0).UTC().Format("150405") + ".00,")
	k := bytes.Index(l.data, head)
	first := slices.Index(l.offset, k)
	if k < 0 || first < 0 {
		return 0, 0, 0, 0, 0, false
	}
	quietNs = math.MaxInt64
	if first > 0 {
		quietNs = l.atNs[first] - l.atNs[first-1]
	}
	end := len(l.data)
	if next := bytes.Index(l.data[k+1:], []byte("$GNRMC,")); next >= 0 {
		end = k + 1 + next
	}
	lo = math.MaxInt64
	for c := first; c < len(l.offset) && l.offset[c] < end; c++ {
		chunkEnd := end
		if c+1 < len(l.offset) {
			chunkEnd = min(l.offset[c+1], end)
		}
		firstByte := l.atNs[c] - int64(chunkEnd-k-1)*btNs
		if c == first {
			hi = firstByte
			lateNs = l.atNs[c] - (dueNs + int64(chunkEnd-k-1)*btNs)
		} else {
			// Silence between the previous write and this one, beyond the
			// wire time of this chunk.
			stallNs = max(stallNs, l.atNs[c]-l.atNs[c-1]-int64(chunkEnd-l.offset[c])*btNs)
		}
		lo = min(lo, firstByte)
	}
	return lo, hi, lateNs, stallNs, quietNs, true
}

// TestSimThroughReceiver runs the simulated receiver on a pty into the real
// serial Receiver: every fix names the GPS second whose burst it came from,
// and its ArrivalNs is when that burst's first byte went out
// (Timeline.HostAt(N)+Delay when the simulator's writes are on time)
// within a few ms.
func TestSimThroughReceiver(t *testing.T) {
	master, slave, err := sim.OpenPTY()
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	defer master.Close()
	now := time.Now().UnixNano()
	// GPS 3.7 s ahead of the host and running 50 ppm fast.
	tl := simtime.Timeline{StartHostNs: now, OffsetNs: 3_700_000_000, FreqPPM: 50}
	const (
		delay = 230 * time.Millisecond
		baud  = 9600
		btNs  = int64(10 * time.Second / baud)
		// fixes is how many fixes from bursts the load left alone are
		// checked (see below; at most maxFixes are read).
		fixes    = 5
		maxFixes = 30
		// cutNs: a silence of the writer this long inside a burst, plus
		// a few ms of read jitter, is a burst gap to the receiver.
		cutNs = int64(gps.DefaultBurstGap - 10*time.Millisecond)
		// maxLateNs: a writer or reader later than this is the load
		// talking (on an idle machine both stay well below 1 ms).
		maxLateNs = int64(2 * time.Millisecond)
	)
	wl := &writeLog{w: master}
	s, err := sim.New(sim.Config{Timeline: tl, Baud: baud, Delay: delay, Seed: 1}, wl)
	if err != nil {
		t.Fatal(err)
	}
	r, err := gps.Open(gps.Config{Device: slave, Baud: baud})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	out := make(chan gps.Fix, 16)
	go r.Run(ctx, out)
	for r.Stats().Device != gps.DeviceOpen {
		if ctx.Err() != nil {
			t.Fatal("receiver did not open")
		}
		time.Sleep(5 * time.Millisecond)
	}
	wl.startProbe(t, ctx, baud)
	simDone := make(chan error, 1)
	go func() { simDone <- s.Run(ctx) }()

	// Scheduling noise on a loaded host (or under -race) can delay a single
	// read by several ms; a systematic error (forgetting the (n−1) byte
	// times, 7 ms at this chunking) shows in the median.
	var errs []time.Duration
	var prev gps.Fix
	var log []string
	checked, stalled := 0, 0
	for i := 0; checked < fixes; i++ {
		if i == maxFixes {
			t.Fatalf("only %d of %d fixes came from bursts the load left alone (%d not counted): %s", checked, i, stalled, strings.Join(log, "; "))
		}
		var f gps.Fix
		select {
		case f = <-out:
		case <-ctx.Done():
			t.Fatalf("only %d fixes: %+v", i, r.Stats())
		}
		// The simulator writes a burst before the fix that ends it can
		// come out: its writes are all logged by now.
		n := f.Time.Unix()
		lo, hi, lateNs, stallNs, quietNs, ok := wl.burstTiming(t, n, s.BurstStartNs(n), btNs)
		if !f.TimeValid || f.Mode != gps.Mode3D || f.Time.Nanosecond() != 0 || !ok {
			// A fix from a part of a burst: fine only if the writer's
			// silence cut that burst (the last one named, or the next) in
			// two on the line.
			if !prev.Time.IsZero() {
				cut := false
				for _, m := range []int64{prev.Time.Unix(), prev.Time.Unix() + 1} {
					if _, _, _, st, _, ok := wl.burstTiming(t, m, s.BurstStartNs(m), btNs); ok && st > cutNs {
						stalled++
						log = append(log, fmt.Sprintf("fix %d: part of burst %d, which the writer cut by %v", i, m, time.Duration(st)))
						cut = true
						break
					}
				}
				if cut {
					continue
				}
			}
			t.Errorf("fix %d: %v valid=%v mode=%d, from a burst the writer sent whole", i, f.Time, f.TimeValid, f.Mode)
			continue
		}
		// What the load did to this burst, as measured: a burst the writer
		// cut in two, ran into the one before, or sent late (its chunks
		// then go out together, faster than a UART, and when the first
		// byte "arrived" is ambiguous by that much), or one whose moment
		// made a reader like the receiver's wake late, is not a test of
		// the receiver's arrival times. It is counted and logged.
		var why string
		switch lag := wl.probeLag(n); {
		case stallNs > cutNs:
			why = fmt.Sprintf("writer stalled %v inside the burst", time.Duration(stallNs))
		case quietNs < cutNs:
			why = fmt.Sprintf("writer ran it into the burst before (%v apart)", time.Duration(quietNs))
		case lateNs > maxLateNs:
			why = fmt.Sprintf("writer %v late", time.Duration(lateNs))
		case lag > maxLateNs:
			why = fmt.Sprintf("probe reader woke %v late", time.Duration(lag))
		}
		if why != "" {
			stalled++
			log = append(log, fmt.Sprintf("fix %d (%d): not counted: %s", i, n, why))
			prev = f
			continue
		}
		checked++
		est := f.ArrivalNs
		var d time.Duration // distance from [lo, hi]: 0 inside
		if est > hi {
			d = time.Duration(est - hi)
		} else if est < lo {
			d = time.Duration(est - lo)
		}
		errs = append(errs, max(d, -d))
		log = append(log, fmt.Sprintf("fix %d (%d): writer late %v, window %v, error %v, probe reader late %v", i, n, time.Duration(lateNs), time.Duration(hi-lo), d, time.Duration(wl.probeLag(n))))
		if d < -10*time.Millisecond || d > 10*time.Millisecond {
			t.Errorf("fix %d (%v): ArrivalNs is %v from when the burst's first byte went out (due HostAt(N)+delay, writer %v late), want within ±10 ms",
				i, f.Time, d, time.Duration(lateNs))
		}
		// The fix must lie between the edge that starts its second and the next one.
		if gpsAt := tl.GPSAt(f.ArrivalNs); gpsAt/1e9 != n {
			t.Errorf("fix %d names %d but arrived during GPS second %d", i, n, gpsAt/1e9)
		}
		if !prev.Time.IsZero() && n <= prev.Time.Unix() {
			t.Errorf("fix %d: %v does not follow %v", i, f.Time, prev.Time)
		}
		prev = f
	}
	cancel()
	<-simDone
	slices.Sort(errs)
	if len(errs) > 0 && errs[len(errs)/2] > 3*time.Millisecond {
		t.Errorf("median |ArrivalNs − first byte sent| = %v, want ≤ 3 ms (all: %v)", errs[len(errs)/2], errs)
	}
	t.Logf("%s", strings.Join(log, "\n"))
}

// TestSimDropAndGarbage: garbage is rejected by the framer and what is
// decoded is still right. (Drops happen in Run; see TestSimThroughReceiver's
// sibling TestRunDrops.)
func TestSimDropAndGarbage(t *testing.T) {
	var buf bytes.Buffer
	s, err := sim.New(sim.Config{Baud: 115200, DropFraction: 0.3, GarbageFraction: 0.5, Seed: 7}, &buf)
	if err != nil {
		t.Fatal(err)
	}
	n0 := time.Date(2027, 6, 30, 12, 0, 0, 0, time.UTC).Unix()
	var data []byte
	for i := int64(0); i < 40; i++ {
		data = append(data, s.Burst(n0+i)...)
	}
	fixes, st := gps.DecodeCapture(data, gps.DefaultReferenceDate)
	if s.Stats().Garbage == 0 || st.Framer.Binary+st.Framer.Spliced+st.Framer.BadChecksum == 0 {
		t.Fatalf("no garbage injected/detected: sim %+v framer %+v", s.Stats(), st.Framer)
	}
	valid := 0
	for _, f := range fixes {
		if f.TimeValid {
			valid++
			if f.Time.Before(time.Unix(n0, 0)) || f.Time.After(time.Unix(n0+39, 0)) || f.Time.Nanosecond() != 0 {
				t.Errorf("bad time %v", f.Time)
			}
		}
	}
	if valid < 30 {
		t.Errorf("only %d of 40 bursts gave a trusted time (%+v)", valid, st)
	}
}

// TestRunDrops: with DropFraction 1 Run writes nothing and counts drops.
func TestRunDrops(t *testing.T) {
	var buf bytes.Buffer
	tl := simtime.Timeline{StartHostNs: time.Now().UnixNano()}
	s, err := sim.New(sim.Config{Timeline: tl, Baud: 115200, Delay: 50 * time.Millisecond, DropFraction: 1}, &buf)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2100*time.Millisecond)
	defer cancel()
	s.Run(ctx)
	if st := s.Stats(); buf.Len() != 0 || st.Dropped < 2 || st.Bursts != 0 {
		t.Errorf("wrote %d bytes, stats %+v", buf.Len(), st)
	}
}

// Silent seconds get no burst; the seconds around them do.
func TestSilentSeconds(t *testing.T) {
	r, w := io.Pipe()
	defer r.Close()
	tl := simtime.Timeline{StartHostNs: time.Now().UnixNano()}
	first := tl.GPSAt(time.Now().UnixNano())/1e9 + 1
	silent := func(n int64) bool { return n >= first+1 && n < first+3 }
	rx, err := sim.New(sim.Config{Timeline: tl, Baud: 115200, Delay: 100 * time.Millisecond, Silent: silent, Seed: 1}, w)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4500*time.Millisecond)
	defer cancel()
	go func() { rx.Run(ctx); w.Close() }()
	b, _ := io.ReadAll(r)
	var seconds []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "$GPRMC") || strings.HasPrefix(l, "$GNRMC") {
			seconds = append(seconds, strings.Split(l, ",")[1])
		}
	}
	st := rx.Stats()
	if st.Silent != 2 {
		t.Errorf("Stats.Silent = %d, want 2 (seconds %d and %d); RMC times %v", st.Silent, first+1, first+2, seconds)
	}
	if st.Bursts < 2 || len(seconds) < 2 {
		t.Errorf("%d bursts, %d RMC sentences around the outage, want at least 2; RMC times %v", st.Bursts, len(seconds), seconds)
	}
	for _, hms := range seconds {
		for _, n := range []int64{first + 1, first + 2} {
			if hms[:6] == time.Unix(n, 0).UTC().Format("150405") {
				t.Errorf("burst for silent second %s sent", hms)
			}
		}
	}
}
