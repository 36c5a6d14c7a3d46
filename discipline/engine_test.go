package discipline

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/gps"
	"github.com/gpsntp/gpsntp/internal/simtime"
	"github.com/gpsntp/gpsntp/pps"
)

// world drives an Engine on a Soft clock whose CLOCK_REALTIME is simulated,
// with PPS edges and NMEA fixes generated from a simtime.Timeline: an
// accelerated, seeded appliance.
type world struct {
	t      *testing.T
	nowNs  int64
	soft   *Soft
	eng    *Engine
	tl     simtime.Timeline
	rng    *rand.Rand
	second int64
	// events is everything the engine reported (Engine.Events), and
	// state the state its events lead to.
	events []Event
	state  State
}

func newWorld(t *testing.T, cfg Config, offsetNs int64, freqPPM float64) *world {
	return newWorldAt(t, cfg, 1_790_000_000_123_456_789, offsetNs, freqPPM)
}

// newWorldAt is newWorld with the host's CLOCK_REALTIME starting at
// hostNs (a Pi without an RTC boots in 1970).
func newWorldAt(t *testing.T, cfg Config, hostNs, offsetNs int64, freqPPM float64) *world {
	w := &world{t: t, nowNs: hostNs, rng: rand.New(rand.NewPCG(3, 4))}
	w.tl = simtime.Timeline{StartHostNs: w.nowNs, OffsetNs: offsetNs, FreqPPM: freqPPM}
	w.soft = NewSoft(func() int64 { return w.nowNs })
	cfg.Clock = w.soft
	w.eng = NewEngine(cfg)
	w.second = w.tl.GPSAt(w.nowNs)/1e9 + 1
	return w
}

// step simulates one GPS second: the edge (jitter σ), then the NMEA burst
// delayNs later. withEdge/withFix drop either.
func (w *world) step(jitterNs float64, delayNs int64, withEdge, withFix bool) {
	edge := w.tl.HostAt(w.second * 1e9)
	if withEdge {
		w.nowNs = edge + int64(w.rng.NormFloat64()*jitterNs)
		w.eng.Edge(pps.Edge{AssertNs: w.nowNs, Seq: uint32(w.second)})
	}
	if withFix {
		w.nowNs = edge + delayNs
		w.eng.Fix(gps.Fix{Time: time.Unix(w.second, 0).UTC(), TimeValid: true, Mode: gps.Mode3D, ArrivalNs: w.nowNs})
	}
	w.nowNs = edge + 500e6
	w.eng.Tick(w.nowNs)
	w.drain()
	w.second++
}

// drain collects the engine's events and checks that they account for
// every state change: each state event starts where the last one ended,
// says why, and the last one ends in the published state.
func (w *world) drain() {
	w.t.Helper()
	for _, ev := range w.eng.Events() {
		if ev.Kind == EventState {
			if ev.From != w.state || ev.Reason == "" {
				w.t.Fatalf("state event %q: from %v, want from %v with a reason", ev, ev.From, w.state)
			}
			w.state = ev.To
		}
		if ev.Kind == EventStep && (ev.StepNs == 0 || ev.AfterNs-ev.BeforeNs != ev.StepNs || ev.Reason == "") {
			w.t.Fatalf("step event %+v: want a non-zero step = after − before, with a reason", ev)
		}
		w.events = append(w.events, ev)
	}
	if s := w.eng.Ref().Load().State; s != w.state {
		w.t.Fatalf("state %v published, but the events say %v: a state change without an event", s, w.state)
	}
}

// eventsOf returns the events of kind k collected so far.
func (w *world) eventsOf(k EventKind) []Event {
	var out []Event
	for _, ev := range w.events {
		if ev.Kind == k {
			out = append(out, ev)
		}
	}
	return out
}

// errNs is served time minus true GPS time now.
func (w *world) errNs() float64 { return float64(w.soft.Map(w.nowNs) - w.tl.GPSAt(w.nowNs)) }

func TestEngineLocksToPPS(t *testing.T) {
	for _, c := range []struct {
		name    string
		offNs   int64
		freqPPM float64
		delayNs int64
	}{
		{"offset 1.234567 s, 37 ppm", 1_234_567_000, 37, 120e6},
		{"zero offset", 0, 0, 120e6},
		{"late NMEA 900 ms, -50 ppm", -3_000_000_000, -50, 900e6},
		{"NMEA delay misconfigured by 300 ms", 42e6, 5, 420e6},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t, Config{PPS: true, NMEADelayNs: 120e6}, c.offNs, c.freqPPM)
			lock := -1
			var sum2 float64
			var n int
			for k := 0; k < 600; k++ {
				w.step(1000, c.delayNs, true, true)
				r := w.eng.Ref().Load()
				if lock < 0 && r.Synchronised {
					lock = k
					if r.State != PPS || string(r.RefID[:3]) != "PPS" || r.Stratum != 1 {
						t.Fatalf("first synchronised reference = %+v, want state PPS, refid PPS, stratum 1", r)
					}
				}
				if r.Synchronised && math.Abs(w.errNs()) > 100e3 {
					t.Fatalf("second %d: synchronised with error %.0f ns", k, w.errNs())
				}
				if lock >= 0 && k > lock+60 {
					e := w.errNs()
					sum2 += e * e
					n++
				}
			}
			if lock < 0 || lock > 30 {
				t.Fatalf("synchronised after %d s, want ≤ 30", lock)
			}
			rms := math.Sqrt(sum2 / float64(n))
			st := w.eng.Status()
			t.Logf("lock %d s, RMS %.0f ns, freq %.0f ppb, counters %+v", lock, rms, st.Ref.FreqPPB, st.Counters)
			if rms > 1000 {
				t.Errorf("RMS error %.0f ns, want ≤ 1000", rms)
			}
			if st.Counters.Mislabel != 0 {
				t.Errorf("Mislabel = %d, want 0", st.Counters.Mislabel)
			}
		})
	}
}

func TestEngineHoldoverThenUnsync(t *testing.T) {
	w := newWorld(t, Config{PPS: true, NMEADelayNs: 120e6, MaxErrorNs: 1e6}, 5e6, 12)
	for k := 0; k < 120; k++ {
		w.step(1000, 120e6, true, true)
	}
	if s := w.eng.Ref().Load().State; s != PPS {
		t.Fatalf("state after 120 s = %v, want pps", s)
	}
	// PPS lost, NMEA still there.
	var sawHoldover bool
	var prevDisp int64
	for k := 0; k < 30000; k++ {
		w.step(1000, 120e6, false, true)
		r := w.eng.Ref().Load()
		if r.State == Holdover {
			sawHoldover = true
			d := r.RootDispersionAt(w.soft.Map(w.nowNs))
			if d < prevDisp {
				t.Fatalf("holdover root dispersion fell: %d < %d", d, prevDisp)
			}
			prevDisp = d
			if math.Abs(w.errNs()) > float64(d) {
				t.Fatalf("holdover error %.0f ns exceeds advertised dispersion %d ns", w.errNs(), d)
			}
		}
		if r.State == Unsynchronised {
			if !sawHoldover {
				t.Fatal("went unsynchronised without holdover")
			}
			if r.Leap != LeapAlarm || r.Synchronised {
				t.Fatalf("unsynchronised reference = %+v, want LI alarm", r)
			}
			t.Logf("holdover lasted %d s, dispersion at end %d ns", k, prevDisp)
			// PPS returns: relock.
			for j := 0; j < 60; j++ {
				w.step(1000, 120e6, true, true)
			}
			if s := w.eng.Ref().Load().State; s != PPS {
				t.Fatalf("state after PPS returned = %v, want pps", s)
			}
			return
		}
	}
	t.Fatal("never left holdover")
}

func TestEngineNMEAOnly(t *testing.T) {
	w := newWorld(t, Config{PPS: false, NMEADelayNs: 120e6}, 2_500_000_000, 20)
	for k := 0; k < 120; k++ {
		// Burst delay jitters by a few ms, as real receivers do.
		w.step(0, 120e6+int64(w.rng.NormFloat64()*2e6), false, true)
	}
	r := w.eng.Ref().Load()
	if r.State != GPS || string(r.RefID[:3]) != "GPS" || !r.Synchronised {
		t.Fatalf("reference = %+v, want synchronised GPS", r)
	}
	if e := w.errNs(); math.Abs(e) > 5e6 {
		t.Errorf("NMEA-only error %.0f ns, want within 5 ms", e)
	}
	if r.RootDispersionNs < 1e6 {
		t.Errorf("NMEA-only root dispersion %d ns, want ms-level", r.RootDispersionNs)
	}
}
