package simtime

import "math"

// Timeline maps host kernel time to simulated GPS (UTC) time:
//
//	gpsNs(hostNs) = hostNs + OffsetNs + FreqPPM·1e-6·(hostNs − StartHostNs)
//
// OffsetNs is simulated GPS time minus host time at StartHostNs (positive:
// GPS ahead of the host). FreqPPM is how fast that difference grows
// (positive: the host clock runs slow relative to GPS). All times are ns
// since the Unix epoch.
type Timeline struct {
	StartHostNs int64
	OffsetNs    int64
	FreqPPM     float64
}

// GPSAt returns the simulated GPS time (ns) at host time hostNs.
func (t Timeline) GPSAt(hostNs int64) int64 {
	el := hostNs - t.StartHostNs
	return hostNs + t.OffsetNs + int64(math.Round(t.FreqPPM*1e-6*float64(el)))
}

// OffsetAt returns simulated GPS time minus host time (ns) at hostNs.
func (t Timeline) OffsetAt(hostNs int64) int64 { return t.GPSAt(hostNs) - hostNs }

// HostAt returns the host time (ns) at which simulated GPS time is gpsNs:
// the inverse of GPSAt.
func (t Timeline) HostAt(gpsNs int64) int64 {
	// gps = host + off + f·(host − start)  ⇒  host = (gps − off + f·start)/(1+f)
	// Solve around StartHostNs to keep float64 precision at ns scale.
	f := t.FreqPPM * 1e-6
	d := float64(gpsNs-t.StartHostNs-t.OffsetNs) / (1 + f)
	return t.StartHostNs + int64(math.Round(d))
}
