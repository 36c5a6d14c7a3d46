package discipline

import (
	"strings"
	"testing"
)

// PPS configured but silent (no device yet, a broken wire, a receiver that
// holds PPS back until it knows the leap second count): the engine serves
// NMEA time (refid GPS) rather than nothing, changes to PPS once edges pair
// consistently, holds over when they stop, and after the holdover goes
// back to NMEA time while fixes still arrive.
func TestPPSConfiguredButSilent(t *testing.T) {
	w := newWorld(t, Config{PPS: true, NMEADelayNs: 120e6, MaxErrorNs: 20e3}, 2_500_000_000, 20)
	gpsAt := -1
	for k := 0; k < 60; k++ {
		w.step(0, 120e6, false, true)
		r := w.eng.Ref().Load()
		if gpsAt < 0 && r.Synchronised {
			gpsAt = k
			if r.State != GPS || string(r.RefID[:3]) != "GPS" || r.Stratum != 1 {
				t.Fatalf("first synchronised reference with PPS silent = %+v, want state GPS, refid GPS, stratum 1", r)
			}
		}
	}
	if gpsAt < 0 || gpsAt > 30 {
		t.Fatalf("with PPS configured and silent, GPS after %d fixes, want 0..30", gpsAt)
	}
	if e := w.errNs(); e > 20e6 || e < -20e6 {
		t.Fatalf("NMEA fallback serves %.3f ms off, want within 20 ms", e/1e6)
	}
	if a := w.eng.Status().Alarms; len(a) != 1 || !strings.Contains(a[0], "PPS configured but no pulse since start: serving NMEA time") {
		t.Errorf("Alarms with PPS silent = %q, want one saying NMEA time is served", a)
	}
	steps := len(w.eventsOf(EventStep))

	// Edges start: PPS within seconds, with no step (NMEA had the second
	// right) and PPS accuracy.
	ppsAt := -1
	for k := 0; k < 60; k++ {
		w.step(1000, 120e6, true, true)
		r := w.eng.Ref().Load()
		if !r.Synchronised {
			t.Fatalf("second %d after edges started: unsynchronised, want GPS until PPS locks", k)
		}
		if ppsAt < 0 && r.State == PPS {
			ppsAt = k
			if string(r.RefID[:3]) != "PPS" {
				t.Fatalf("state PPS with refid %q", r.RefID)
			}
		}
	}
	if ppsAt < 0 || ppsAt > 30 {
		t.Fatalf("PPS after %d s of edges, want 0..30", ppsAt)
	}
	if n := len(w.eventsOf(EventStep)); n != steps {
		t.Errorf("%d steps from NMEA to PPS time, want none (NMEA had the second; the rest is slewed)", n-steps)
	}
	if a := w.eng.Status().Alarms; len(a) != 0 {
		t.Errorf("Alarms with PPS locked = %q, want none", a)
	}
	for k := 0; k < 120; k++ {
		w.step(1000, 120e6, true, true)
	}
	if e := w.errNs(); e > 10e3 || e < -10e3 {
		t.Fatalf("after PPS lock the error is %.0f ns, want within 10 µs", e)
	}

	// Edges stop: holdover (refid PPS), then NMEA time once the holdover's
	// error bound (20 µs) is spent.
	var seen []State
	unsync := 0
	for k := 0; k < 4000; k++ {
		w.step(0, 120e6, false, true)
		r := w.eng.Ref().Load()
		if !r.Synchronised {
			unsync++
		}
		if r.State != PPS && (len(seen) == 0 || seen[len(seen)-1] != r.State) {
			seen = append(seen, r.State)
		}
		if r.State == Holdover && string(r.RefID[:3]) != "PPS" {
			t.Fatalf("holdover after PPS with refid %q, want PPS", r.RefID)
		}
		if r.State == GPS {
			break
		}
	}
	if len(seen) < 2 || seen[0] != Holdover || seen[len(seen)-1] != GPS {
		t.Fatalf("after edges stopped: states %v, want holdover … gps", seen)
	}
	if r := w.eng.Ref().Load(); string(r.RefID[:3]) != "GPS" || !r.Synchronised {
		t.Fatalf("after holdover: %+v, want synchronised, refid GPS", r)
	}
	// From PPS holdover to NMEA time: the NMEA servo starts from the held
	// frequency and needs two fixes, so the gap is a couple of seconds.
	if unsync > 3 {
		t.Errorf("unsynchronised for %d s between holdover and NMEA time, want ≤ 3", unsync)
	}
	for _, why := range []string{"no PPS edge for 5 s", "holdover error bound 20 µs exceeded", "NMEA time locked"} {
		if !hasReason(w.events, EventState, why) {
			t.Errorf("no state event saying %q in %v", why, w.eventsOf(EventState))
		}
	}
}
