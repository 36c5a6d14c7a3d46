package discipline

import "sync"

// slewLedger is the phase the engine has slewed the served clock by since
// it started: each servo's Action.SlewPPB integrated over served time,
// 0 while holding a frequency. Steps are not in it (whoever keeps
// measurements is told of a step: upstream.Client.Stepped).
//
// A measurement of the served clock taken at served time t1 is
// re-expressed at t2 by subtracting SlewedNs(t2) − SlewedNs(t1): the clock
// moved that much on purpose in between. Package upstream needs it: its
// clock filter keeps samples up to eight polls old, and the upstream
// servo slews tens of ms away over a minute, so a sample from before the
// slew, taken as now, is that far off (and a servo fed it slews past).
type slewLedger struct {
	mu      sync.Mutex
	baseNs  float64 // slewed phase at atNs
	atNs    int64   // served time of the last rate change
	ratePPB float64 // since atNs; positive: the clock gains
}

func (l *slewLedger) at(servedNs int64) float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.atLocked(servedNs)
}

func (l *slewLedger) atLocked(servedNs int64) float64 {
	return l.baseNs + l.ratePPB*1e-9*float64(servedNs-l.atNs)
}

// setRate: from served time servedNs on, the clock slews at ratePPB.
func (l *slewLedger) setRate(servedNs int64, ratePPB float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.baseNs = l.atLocked(servedNs)
	l.atNs, l.ratePPB = servedNs, ratePPB
}

// stepped moves the ledger's time with a step of the clock (deltaNs added
// to it): served times after it are deltaNs later for the same instant.
func (l *slewLedger) stepped(deltaNs int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.atNs += deltaNs
}

// SlewedNs is the phase, ns, the engine has slewed the served clock by
// since it started, at served time servedNs (positive: moved ahead).
// Steps are not included. Safe for concurrent use, unlike the rest of the
// engine: package upstream reads it from its own goroutines.
func (e *Engine) SlewedNs(servedNs int64) float64 { return e.slews.at(servedNs) }
