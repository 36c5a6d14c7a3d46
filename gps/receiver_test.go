package gps_test

import (
	"context"
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
	bt := 10 * time.Second / time.Duration(baud)
	start := time.Now()
	const chunk = 8
	for i := 0; i < len(b); i += chunk {
		j := min(i+chunk, len(b))
		time.Sleep(time.Until(start.Add(time.Duration(j-1) * bt)))
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if _, err := w.Write(b[i:j]); err != nil {
			return err
		}
	}
	return nil
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
// real pty at 9600-baud byte timing into the serial Receiver and checks that
// it yields exactly what offline decoding of the same bytes yields, with
// arrival times spaced like the bytes on the wire.
func TestReceiverPTYReplay(t *testing.T) {
	data, date := mt3339Slice(t, 2600) // ~2.7 s at 9600 baud
	floor := gps.FloorFromApproxDate(date)
	want, _ := gps.DecodeCapture(data, floor)

	master, slave, err := sim.OpenPTY()
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	defer master.Close()
	// Stale bytes written before the receiver opens must not come out.
	master.Write([]byte("$GPRMC,000000.000,A,4404.1306,N,12118.8515,W,0.03,225.97,010101,,,D*7E\r\n"))

	r, err := gps.Open(gps.Config{Device: slave, Baud: 9600, ReferenceDate: floor})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out := make(chan gps.Fix, 64)
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, out) }()
	waitFor(t, "device open", 5*time.Second, func() bool { return r.Stats().Device == gps.DeviceOpen })

	if err := pacedWrite(ctx, master, data, 9600); err != nil {
		t.Fatal(err)
	}
	var got []gps.Fix
	timeout := time.After(3 * time.Second)
collect:
	for len(got) < len(want) {
		select {
		case f := <-out:
			got = append(got, f)
		case <-timeout:
			break collect
		}
	}
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
	// Consecutive epochs of this 1 Hz capture are written back to back at
	// 9600 baud, so their arrival spacing is their byte distance on the
	// wire; check it to within a few ms of scheduling noise.
	// A single read can be delayed by scheduling noise; the median must
	// be tight.
	off := epochOffsets(t, data, floor)
	var errs []time.Duration
	for i := 1; i < len(got) && i < len(off); i++ {
		wantNs := int64(off[i]-off[i-1]) * int64(10*time.Second/9600)
		d := time.Duration(got[i].ArrivalNs - got[i-1].ArrivalNs - wantNs)
		errs = append(errs, max(d, -d))
		if d > 15*time.Millisecond || d < -15*time.Millisecond {
			t.Errorf("arrival spacing %d→%d off by %v (byte distance %d)", i-1, i, d, off[i]-off[i-1])
		}
	}
	slices.Sort(errs)
	if len(errs) > 0 && errs[len(errs)/2] > 2*time.Millisecond {
		t.Errorf("median arrival spacing error %v, want ≤ 2 ms (all %v)", errs[len(errs)/2], errs)
	}
	st := r.Stats()
	if st.Stream.Framer.BadChecksum != 0 || st.Dropped != 0 {
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
	m1, s1, err := sim.OpenPTY()
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	if err := os.Symlink(s1, link); err != nil {
		t.Fatal(err)
	}
	r, err := gps.Open(gps.Config{Device: link, Baud: 9600, ReopenMin: 20 * time.Millisecond, ReopenMax: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out := make(chan gps.Fix, 16)
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, out) }()
	waitFor(t, "open", 3*time.Second, func() bool { return r.Stats().Device == gps.DeviceOpen })

	m1.Close() // unplug
	waitFor(t, "lost", 3*time.Second, func() bool { return r.Stats().Device == gps.DeviceLost })
	if st := r.Stats(); st.Losses != 1 || st.DeviceErr == "" {
		t.Errorf("after unplug: %+v", st)
	}

	m2, s2, err := sim.OpenPTY() // replug
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	os.Remove(link)
	if err := os.Symlink(s2, link); err != nil {
		t.Fatal(err)
	}
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

// TestReceiverAutoBaud: Baud 0 settles on a rate that yields valid
// checksums (a pty carries bytes at any setting, so the first rate tried
// wins; the test checks the detection path runs and decodes).
func TestReceiverAutoBaud(t *testing.T) {
	m, s, err := sim.OpenPTY()
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	defer m.Close()
	r, err := gps.Open(gps.Config{Device: s, AutoBaudWindow: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out := make(chan gps.Fix, 16)
	go r.Run(ctx, out)
	data, _ := mt3339Slice(t, 4000)
	go pacedWrite(ctx, m, data, 38400)
	waitFor(t, "baud detected", 5*time.Second, func() bool { return r.Stats().Device == gps.DeviceOpen })
	if b := r.Stats().Baud; b != gps.AutoBaudRates[0] {
		t.Errorf("Baud = %d, want %d", b, gps.AutoBaudRates[0])
	}
	select {
	case <-out:
	case <-time.After(3 * time.Second):
		t.Errorf("no fix after auto-baud: %+v", r.Stats())
	}
}
