package discipline

import (
	"math"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/gps"
	"github.com/gpsntp/gpsntp/pps"
)

// Status reports each source's last sample as the engine measured it, so
// status screens show the engine's figures instead of working them out
// again.
func TestStatusSamples(t *testing.T) {
	// NMEA alone: the offset is the burst's arrival less the configured
	// delay, against the second the fix names, measured before the engine
	// set the clock from it. The host's clock is GPS time here, and the
	// burst comes 30 ms later than configured: 30 ms ahead.
	w := newWorld(t, Config{NMEADelayNs: 120e6}, 0, 0)
	w.step(0, 150e6, false, true)
	st := w.eng.Status()
	arrival := w.tl.HostAt((w.second-1)*1e9) + 150e6
	if st.NMEA.AtNs != arrival || math.Abs(st.NMEA.OffsetNs-30e6) > 1 {
		t.Errorf("NMEA only: Status().NMEA = %+v, want at %d offset 30 ms", st.NMEA, arrival)
	}
	if st.PPS != (Sample{}) || st.LastEdgeNs != 0 {
		t.Errorf("NMEA only: Status().PPS = %+v, LastEdgeNs %d; want none", st.PPS, st.LastEdgeNs)
	}

	// PPS with the NMEA delay misconfigured by 300 ms: once edges are
	// paired, the NMEA offset uses the burst delay they measured, and the
	// PPS sample is the last paired edge's.
	w = newWorld(t, Config{PPS: true, NMEADelayNs: 120e6}, 1_234_567_000, 20)
	for k := 0; k < 300; k++ {
		w.step(1000, 420e6, true, true)
	}
	st = w.eng.Status()
	if st.Ref.State != PPS {
		t.Fatalf("state %v after 300 s, want pps", st.Ref.State)
	}
	edge := st.LastEdgeNs
	if edge == 0 || st.PPS.AtNs != edge || st.PPS.OffsetNs != st.Ref.OffsetNs || math.Abs(st.PPS.OffsetNs) > 10e3 {
		t.Errorf("Status().PPS = %+v, LastEdgeNs %d, servo's last offset %.0f: want the last edge's, within 10 µs", st.PPS, edge, st.Ref.OffsetNs)
	}
	if st.NMEA.AtNs <= edge || math.Abs(st.NMEA.OffsetNs) > 5e6 {
		t.Errorf("Status().NMEA = %+v (edge at %d): want the fix after the edge, within 5 ms with the measured delay", st.NMEA, edge)
	}
}

// The engine checks every edge's period and sequence (pps.Validator) and
// reports the verdicts; pairing goes on as before.
func TestStatusEdgeChecks(t *testing.T) {
	w := newWorld(t, Config{PPS: true, NMEADelayNs: 120e6}, 0, 0)
	for k := 0; k < 5; k++ {
		w.step(1000, 120e6, true, true)
	}
	// A pulse lost, then a duplicate of the next one.
	w.step(1000, 120e6, false, true)
	w.step(1000, 120e6, true, true)
	last := w.eng.edges[0].realNs
	w.eng.Edge(pps.Edge{AssertNs: last + 1e3, Seq: uint32(w.second - 1)})
	w.nowNs = last + 600e6
	w.eng.Fix(gps.Fix{Time: time.Unix(w.second-1, 0).UTC(), TimeValid: true, Mode: gps.Mode3D, ArrivalNs: w.nowNs})
	c := w.eng.Status().EdgeChecks
	if c.Count(pps.First) != 1 || c.Count(pps.OK) != 4 || c.Count(pps.Missing) != 1 || c.MissedPulses != 1 || c.Count(pps.Duplicate) != 1 || c.Bad() != 1 {
		t.Errorf("Status().EdgeChecks = %+v, want first 1, ok 4, missing 1 (1 pulse), duplicate 1", c)
	}
	if n := w.eng.Status().Counters.Edges; n != 7 {
		t.Errorf("Counters.Edges = %d, want 7", n)
	}
}
