package pps

import (
	"context"
	"errors"
	"math"
	"os"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/internal/simtime"
)

var testTL = simtime.Timeline{StartHostNs: 1_700_000_000_250_000_000, OffsetNs: 37_123_456, FreqPPM: 12.5}

func TestGeneratorTruth(t *testing.T) {
	g := NewGenerator(testTL, 0, 1)
	prev := int64(0)
	for i := 0; i < 1000; i++ {
		e := g.Next()
		if i == 0 && e.GPSSecond != 1_700_000_001 {
			t.Fatalf("first GPSSecond = %d, want 1700000001 (first whole second after start)", e.GPSSecond)
		}
		if i > 0 && e.GPSSecond != prev+1 {
			t.Fatalf("edge %d: GPSSecond = %d, want %d", i, e.GPSSecond, prev+1)
		}
		prev = e.GPSSecond
		// With no jitter the timestamp is the true edge, and the timeline
		// maps it back onto the whole GPS second.
		if e.AssertNs != e.TrueNs {
			t.Fatalf("edge %d: AssertNs %d != TrueNs %d with zero jitter", i, e.AssertNs, e.TrueNs)
		}
		if d := testTL.GPSAt(e.TrueNs) - e.GPSSecond*1e9; d < -1 || d > 1 {
			t.Fatalf("edge %d: GPSAt(TrueNs) is %d ns off the second", i, d)
		}
		if e.Seq != uint32(i+1) {
			t.Fatalf("edge %d: Seq = %d, want %d", i, e.Seq, i+1)
		}
	}
}

func TestGeneratorJitterStatistics(t *testing.T) {
	const n, jitter = 20000, 2 * time.Microsecond
	g := NewGenerator(testTL, jitter, 42)
	var sum, sum2 float64
	for i := 0; i < n; i++ {
		e := g.Next()
		d := float64(e.AssertNs - e.TrueNs)
		sum += d
		sum2 += d * d
	}
	mean := sum / n
	sd := math.Sqrt(sum2/n - mean*mean)
	// Standard error of the mean is 2000/√20000 ≈ 14 ns; of the sd ≈ 10 ns.
	if math.Abs(mean) > 60 || math.Abs(sd-2000) > 50 {
		t.Errorf("noise mean %.1f ns, sd %.1f ns; want ≈0, ≈2000", mean, sd)
	}
}

func TestGeneratorDeterministic(t *testing.T) {
	a := NewGenerator(testTL, time.Microsecond, 7, SimSpikes(0.1, time.Millisecond))
	b := NewGenerator(testTL, time.Microsecond, 7, SimSpikes(0.1, time.Millisecond))
	c := NewGenerator(testTL, time.Microsecond, 8, SimSpikes(0.1, time.Millisecond))
	same := 0
	for i := 0; i < 100; i++ {
		ea, eb, ec := a.Next(), b.Next(), c.Next()
		if ea != eb {
			t.Fatalf("edge %d: same seed gave %+v and %+v", i, ea, eb)
		}
		if ea == ec {
			same++
		}
	}
	if same > 5 {
		t.Errorf("different seeds gave %d identical edges of 100", same)
	}
}

func TestGeneratorMissingAndSpikes(t *testing.T) {
	outage := func(n int64) bool { return n >= 1_700_000_010 && n < 1_700_000_020 }
	base := NewGenerator(testTL, time.Microsecond, 3)
	g := NewGenerator(testTL, time.Microsecond, 3, SimMissing(outage), SimDelay(11*time.Microsecond))
	want := map[int64]SimEdge{}
	for i := 0; i < 40; i++ {
		e := base.Next()
		want[e.GPSSecond] = e
	}
	var seq uint32
	for i := 0; i < 30; i++ {
		e := g.Next()
		if outage(e.GPSSecond) {
			t.Fatalf("edge in outage at %d", e.GPSSecond)
		}
		seq++
		if e.Seq != seq {
			t.Errorf("Seq = %d, want %d (missing pulses use no sequence number)", e.Seq, seq)
		}
		// The outage does not change the noise of other edges.
		if w := want[e.GPSSecond]; e.AssertNs != w.AssertNs+11_000 {
			t.Errorf("second %d: AssertNs = %d, want %d (same noise + 11 µs delay)", e.GPSSecond, e.AssertNs, w.AssertNs+11_000)
		}
	}

	sp := NewGenerator(testTL, 0, 5, SimSpikes(0.2, 500*time.Microsecond))
	spikes := 0
	for i := 0; i < 5000; i++ {
		e := sp.Next()
		d := e.AssertNs - e.TrueNs
		switch {
		case e.Spike && (d == 500_000 || d == -500_000):
			spikes++
		case e.Spike || d != 0:
			t.Fatalf("edge %d: spike=%v error %d ns", i, e.Spike, d)
		}
	}
	if spikes < 900 || spikes > 1100 {
		t.Errorf("%d spikes in 5000 at p=0.2, want ≈1000", spikes)
	}

	mp := NewGenerator(testTL, 0, 9, SimMissProb(0.5))
	last := mp.Next().GPSSecond
	skipped := int64(0)
	for i := 0; i < 2000; i++ {
		e := mp.Next()
		skipped += e.GPSSecond - last - 1
		last = e.GPSSecond
	}
	if skipped < 1800 || skipped > 2200 {
		t.Errorf("%d skipped for 2000 emitted at p=0.5, want ≈2000", skipped)
	}
}

// fastTimeline runs simulated GPS time 10× faster than the host so that
// real-time tests take a fraction of a second per edge.
func fastTimeline() simtime.Timeline {
	return simtime.Timeline{StartHostNs: time.Now().UnixNano(), FreqPPM: 9e6}
}

func TestSimRealTime(t *testing.T) {
	s := NewSim(fastTimeline(), 0, 1)
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var prev SimEdge
	for i := 0; i < 4; i++ {
		e, err := s.NextSim(ctx)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now().UnixNano()
		if now < e.AssertNs {
			t.Errorf("edge %d delivered %d ns before its timestamp", i, e.AssertNs-now)
		}
		if late := now - e.AssertNs; late > int64(50*time.Millisecond) {
			t.Errorf("edge %d delivered %v late", i, time.Duration(late))
		}
		if i > 0 && (e.GPSSecond != prev.GPSSecond+1 || e.Seq != prev.Seq+1) {
			t.Errorf("edge %d: second %d seq %d after %d/%d", i, e.GPSSecond, e.Seq, prev.GPSSecond, prev.Seq)
		}
		prev = e
	}
}

func TestSimLateReaderGetsNewest(t *testing.T) {
	tl := fastTimeline() // an edge every 100 ms
	s := NewSim(tl, 0, 1)
	defer s.Close()
	ctx := context.Background()
	e1, err := s.NextSim(ctx)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(350 * time.Millisecond) // 3 edges come due meanwhile
	e2, err := s.NextSim(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if gap := e2.Seq - e1.Seq; gap < 3 || gap > 4 {
		t.Errorf("after sleeping 3.5 periods, Seq advanced by %d, want 3 or 4", gap)
	}
	if now := time.Now().UnixNano(); now-e2.AssertNs > int64(100*time.Millisecond) {
		t.Errorf("late reader got an edge %v old, want the newest", time.Duration(now-e2.AssertNs))
	}
}

func TestSimCancelAndClose(t *testing.T) {
	tl := simtime.Timeline{StartHostNs: time.Now().UnixNano()} // real-time: next edge up to 1 s away
	s := NewSim(tl, 0, 1, SimFirstSecond(time.Now().Unix()+100))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if _, err := s.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Next with expiring ctx = %v, want DeadlineExceeded", err)
	}
	go func() { time.Sleep(20 * time.Millisecond); s.Close() }()
	if _, err := s.Next(context.Background()); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Next during Close = %v, want os.ErrClosed", err)
	}
}

func TestCompensated(t *testing.T) {
	src := &fakeSource{edges: []Edge{{AssertNs: 1_000_011_000, Seq: 1}}}
	e, err := Compensated(src, 11_000).Next(context.Background())
	if err != nil || e.AssertNs != 1_000_000_000 || e.Seq != 1 {
		t.Errorf("Compensated(src, 11000).Next() = %+v, %v, want AssertNs 1000000000", e, err)
	}
	if Compensated(src, 0) != Source(src) {
		t.Error("Compensated(src, 0) should return src itself")
	}
}

type fakeSource struct{ edges []Edge }

func (f *fakeSource) Next(ctx context.Context) (Edge, error) {
	if len(f.edges) == 0 {
		return Edge{}, os.ErrClosed
	}
	e := f.edges[0]
	f.edges = f.edges[1:]
	return e, nil
}
func (f *fakeSource) Close() error { return nil }

func TestDCDDecoding(t *testing.T) {
	for _, tc := range []struct {
		status int32
		edge   Polarity
		want   bool
	}{
		{tiocmCD, Rising, true},
		{0, Rising, false},
		{tiocmCD, Falling, false},
		{0, Falling, true},
		{0x1ff &^ tiocmCD, Rising, false}, // other lines up, DCD down
		{0x1ff, Rising, true},
	} {
		if got := dcdWanted(tc.status, tc.edge); got != tc.want {
			t.Errorf("dcdWanted(%#x, %v) = %v, want %v", tc.status, tc.edge, got, tc.want)
		}
	}
	for _, tc := range []struct {
		prev, now uint32
		have      bool
		want      uint32
	}{
		{0, 0, false, 1},
		{10, 12, true, 1},
		{10, 16, true, 3},
		{10, 11, true, 1}, // odd count (glitch, or started mid-pulse)
		{0xffffffff, 1, true, 1},
	} {
		if got := dcdSeqStep(tc.prev, tc.now, tc.have); got != tc.want {
			t.Errorf("dcdSeqStep(%d, %d, %v) = %d, want %d", tc.prev, tc.now, tc.have, got, tc.want)
		}
	}
}
