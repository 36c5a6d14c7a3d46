package discipline

import (
	"math"
	"sort"
)

// phaseFreq is a two-state Kalman filter over a clock's phase error θ (ns)
// and frequency error φ (ppb = ns/s), with frequency random-walk process
// noise of intensity q (ppb²/s): the model of both the Servo and the
// simulation's reference filter.
type phaseFreq struct {
	thetaNs       float64 // estimated phase error
	phiPPB        float64 // estimated frequency error
	p00, p01, p11 float64 // covariance: θ·θ (ns²), θ·φ, φ·φ (ppb²)
}

// advance propagates the estimate and its covariance by dt seconds.
func (k *phaseFreq) advance(dt, q float64) {
	k.thetaNs += k.phiPPB * dt
	k.p00 += 2*dt*k.p01 + dt*dt*k.p11 + q*dt*dt*dt/3
	k.p01 += dt*k.p11 + q*dt*dt/2
	k.p11 += q * dt
}

// correct applies a phase measurement with innovation nu and innovation
// variance S (= p00 + R).
func (k *phaseFreq) correct(nu, S float64) {
	k0, k1 := k.p00/S, k.p01/S
	k.thetaNs += k0 * nu
	k.phiPPB += k1 * nu
	p00, p01, p11 := k.p00, k.p01, k.p11
	k.p00 = (1 - k0) * p00
	k.p01 = (1 - k0) * p01
	k.p11 = p11 - k1*p01
}

// ServoConfig tunes the servo. The zero value means defaults.
type ServoConfig struct {
	// StepThresholdNs: once locked, the servo steps only when the error
	// persistently exceeds this (default 128 ms, ntpd's step threshold).
	// Before lock it steps any offset larger than AcquireStepNs.
	StepThresholdNs float64
	// AcquireStepNs: before lock, offsets larger than this are stepped away
	// rather than slewed (default 100 µs).
	AcquireStepNs float64
	// InitialFreqPPB is the frequency correction to start from (from the
	// drift file), and InitialFreqSigmaPPB its uncertainty (default 50 ppm:
	// nothing known; a drift file justifies ~1 ppm).
	InitialFreqPPB      float64
	InitialFreqSigmaPPB float64
	// MaxFreqPPB bounds the correction (default 500 ppm, as the kernel).
	MaxFreqPPB float64
	// MinNoiseNs is the least measurement noise (1σ) the servo assumes,
	// whatever the samples' second differences suggest (default 10 ns:
	// below any real PPS timestamp's noise). NMEA arrival times need a
	// floor of milliseconds: a UART interrupts at its FIFO trigger level
	// or after four idle character times (4 ms at 9600 baud) and a kernel
	// may wake the reader on its tick, so arrivals sit on a grid and most
	// second differences are exactly zero, which would make every late
	// burst an outlier.
	MinNoiseNs float64
	// SlewTimeConstantS: the residual phase error is removed with a time
	// constant of this many seconds (default 2 s).
	SlewTimeConstantS float64
}

func (c ServoConfig) withDefaults() ServoConfig {
	if c.StepThresholdNs == 0 {
		c.StepThresholdNs = 128e6
	}
	if c.AcquireStepNs == 0 {
		c.AcquireStepNs = 100e3
	}
	if c.InitialFreqSigmaPPB == 0 {
		c.InitialFreqSigmaPPB = 50e3
	}
	if c.MaxFreqPPB == 0 {
		c.MaxFreqPPB = 500e3
	}
	if c.MinNoiseNs == 0 {
		c.MinNoiseNs = 10
	}
	if c.SlewTimeConstantS == 0 {
		c.SlewTimeConstantS = 2
	}
	return c
}

// Action is what the servo wants done to the clock after a sample.
type Action struct {
	// StepNs, when non-zero, is to be added to the clock at once
	// (Clock.Step). Negative steps move the clock back.
	StepNs int64
	// FreqPPB is the absolute frequency correction to apply
	// (Clock.SetFrequency).
	FreqPPB float64
	// SlewPPB is the part of FreqPPB that slews the phase estimate away
	// (FreqPPB minus the frequency estimate): on the servo's model, the
	// rate at which the served clock gains on the reference from now on
	// (positive: it runs ahead). The engine's slew ledger integrates it.
	SlewPPB float64
	// Accepted: the sample was used; false for an outlier.
	Accepted bool
	// Locked: the servo's estimate is good enough to serve from.
	Locked bool
}

// Servo is a pure clock servo: offset samples and their times in, steering
// decisions out. It holds no I/O and reads no clock.
//
// It is a two-state Kalman filter over the served clock's phase error θ
// (ns, positive: our clock ahead of UTC) and frequency error φ (ppb, the
// rate at which θ grows), with the measurement noise R learned from the
// innovations (the servo is not told how noisy its input is), an
// innovation gate against interrupt-latency outliers, and a control law
// that applies the frequency estimate at once and slews the residual phase
// with time constant SlewTimeConstantS. Because the control input is
// known, it is fed back into the state exactly (φ ← φ + ΔF).
type Servo struct {
	cfg ServoConfig

	init     bool
	locked   bool
	lastAtNs int64 // served time the state refers to (the last apply)
	// phaseFreq is the estimate at lastAtNs: phase error, and frequency
	// error after the last control.
	phaseFreq
	rNs2       float64 // measurement noise variance estimate (ns²)
	qPhi       float64 // frequency random-walk intensity (ppb²/s)
	freqPPB    float64 // frequency correction in force
	n          int     // samples accepted since (re)initialisation
	rejects    int     // consecutive gated samples
	rejectSum  float64 // sum of their innovations
	jitterNs   float64 // RMS of recent innovations (for status)
	lastOffset float64

	// Open-loop phase: the offsets with our own corrections taken out
	// (u = z − Σ(F·dt + steps)). Their second differences see only the
	// measurement noise (variance 6R) and oscillator wander, whatever the
	// filter believes, so R is learned from them and not from innovations
	// that are large while the filter is still wrong.
	corrNs     float64 // Σ of corrections applied since start
	u1, u2     float64 // the two previous open-loop offsets
	dt1        float64 // interval between them
	nu2Samples int     // second differences seen
	uN         int     // open-loop offsets since (re)start
	prevAtNs   int64   // time of the previous sample
	everLocked bool    // locked at some time since NewServo: re-acquire by slewing
	// handedOver: restarted by handover with a known frequency on a
	// trusted clock; lock needs one agreeing sample after the first, not
	// four (until the next Reset).
	handedOver bool
	afterGap   bool // the next sample follows a long gap: do not gate it

	// Wander estimate (see learnWander): open-loop offsets at whole-second
	// spacing, and the mean square of their second differences per lag.
	hist     [wanderHist]float64
	histAt   [wanderHist]int64
	histN    int
	lagScale [len(wanderLags)]medianTracker
	lagN     [len(wanderLags)]int
	// noiseScale tracks |second difference| of open-loop offsets.
	noiseScale medianTracker
	qLearned   bool
}

// Lags (s) at which frequency wander is measured, and the history kept
// for them (a power of two above twice the largest lag).
var wanderLags = [...]int{16, 64, 256, 1024}

const wanderHist = 4096

// NewServo returns a servo in its initial (unlocked) state.
func NewServo(cfg ServoConfig) *Servo {
	s := &Servo{cfg: cfg.withDefaults()}
	s.freqPPB = s.cfg.InitialFreqPPB
	return s
}

// Locked reports whether the servo has locked since its last reset.
func (s *Servo) Locked() bool { return s.locked }

// FreqPPB is the frequency correction in force.
func (s *Servo) FreqPPB() float64 { return s.freqPPB }

// JitterNs is the RMS of recent innovations: how noisy the input looks.
func (s *Servo) JitterNs() float64 { return s.jitterNs }

// PhaseSigmaNs is the 1σ uncertainty of the phase estimate.
func (s *Servo) PhaseSigmaNs() float64 { return math.Sqrt(math.Max(s.p00, 0)) }

// PhaseErrorNs is the magnitude of the estimated phase error (ns) at the
// last sample: what the served clock is still off by while the servo
// slews it away. Part of any honest error bound.
func (s *Servo) PhaseErrorNs() float64 { return math.Abs(s.thetaNs) }

// FreqSigmaPPB is the 1σ uncertainty of the frequency estimate.
func (s *Servo) FreqSigmaPPB() float64 { return math.Sqrt(math.Max(s.p11, 0)) }

// LastOffsetNs is the last raw offset sample given.
func (s *Servo) LastOffsetNs() float64 { return s.lastOffset }

// Reset forgets the phase estimate but keeps the frequency in force (used
// after a source change or a long gap).
func (s *Servo) Reset() {
	f := s.freqPPB
	old := *s
	*s = Servo{cfg: s.cfg, freqPPB: f, rNs2: old.rNs2, nu2Samples: old.nu2Samples,
		everLocked: old.everLocked, lagScale: old.lagScale, lagN: old.lagN, qLearned: old.qLearned, qPhi: old.qPhi,
		noiseScale: old.noiseScale}
	if old.init {
		// What the filter learned of the frequency carries over. A servo
		// that never took a sample knows only what it was configured with
		// (its p11 is zero, not a certainty).
		s.cfg.InitialFreqSigmaPPB = math.Max(math.Sqrt(math.Max(old.p11, 0)), 1e3)
	}
}

// handover restarts the servo from frequency correction freqPPB known to
// sigmaPPB (1σ), taken over from another servo that was steering the same
// clock (PPS to NMEA time and back). The clock is trusted already, so the
// phase error found at the first sample is slewed unless it is past the
// step threshold, as after a lock of this servo.
func (s *Servo) handover(freqPPB, sigmaPPB float64) {
	s.Reset()
	s.freqPPB = clamp(freqPPB, s.cfg.MaxFreqPPB)
	s.cfg.InitialFreqSigmaPPB = math.Max(sigmaPPB, 1e3)
	s.everLocked = true
	s.handedOver = true
}

// Sample takes one offset measurement (ns, positive: our clock is ahead of
// UTC) made at served time atNs, and returns the steering to apply at
// served time nowNs (≥ atNs: a PPS edge is measured when its NMEA burst
// arrives, up to a second later). The servo models that delay exactly.
func (s *Servo) Sample(offsetNs float64, atNs, nowNs int64) Action {
	s.lastOffset = offsetNs
	if nowNs < atNs {
		nowNs = atNs
	}
	if !s.init {
		return s.start(offsetNs, atNs, nowNs)
	}
	dt := float64(atNs-s.lastAtNs) * 1e-9
	if dt <= 0 || (dt > 600 && !s.locked) {
		// Time went backwards, or a long gap before we ever knew the
		// frequency: the model no longer applies.
		s.Reset()
		return s.start(offsetNs, atNs, nowNs)
	}
	if dt > 600 {
		// Back from holdover: the prediction carries the frequency we
		// held; its covariance has grown with the gap, so the first
		// sample is taken whatever it says (no gate).
		s.afterGap = true
	}
	s.learnNoise(offsetNs, atNs)
	s.predict(dt)

	nu := offsetNs - s.thetaNs
	S := s.p00 + s.rNs2

	// Gate outliers once we know what normal looks like.
	gap := s.afterGap
	s.afterGap = false
	if s.n >= 4 && !gap && nu*nu > 25*S {
		if s.rejects > 0 && (nu > 0) != (s.rejectSum > 0) {
			s.rejects, s.rejectSum = 0, 0 // sign changed: isolated outliers
		}
		s.rejects++
		s.rejectSum += nu
		switch {
		case s.rejects >= 3 && (!s.locked || math.Abs(s.rejectSum/float64(s.rejects)) > s.cfg.StepThresholdNs):
			// The reference jumped (or we never locked): start again,
			// stepping if the jump is past the threshold.
			s.Reset()
			return s.start(offsetNs, atNs, nowNs)
		case s.rejects >= 3:
			// Three in a row on the same side are not interrupt-latency
			// outliers (those are rare and independent) but the model
			// changing: a temperature step in the crystal's frequency.
			// Open the covariance so the filter follows, keeping what it
			// knows, and take this sample.
			s.p00 += nu * nu
			s.p11 += sq(nu / 2) // a phase error built up over ~2 s
			S = s.p00 + s.rNs2
			s.rejects, s.rejectSum = 0, 0
		default:
			// Keep the prediction (time passes) without the measurement.
			return s.control(atNs, nowNs, false)
		}
	} else {
		s.rejects, s.rejectSum = 0, 0
	}

	s.correct(nu, S)
	s.n++
	w := 1 / math.Min(float64(s.n)+1, 64)
	s.jitterNs = math.Sqrt((1-w)*s.jitterNs*s.jitterNs + w*math.Min(nu*nu, 9*S))
	s.learnWander(atNs)

	// Locked once the frequency is known as well as one second of input
	// noise allows (and at least to 1 ppm), and the phase has settled: the
	// residual error within three times the noise (or 1 µs, for a source
	// so clean that would take minutes) and the latest innovation within
	// three times its expected size. After a handover the frequency is
	// known already: one agreeing sample after the first will do.
	noise := math.Sqrt(s.rNs2)
	if !s.locked && (s.n >= 4 || s.handedOver && s.n >= 1) && math.Sqrt(s.p11) < math.Max(1000, noise) &&
		math.Abs(s.thetaNs) < math.Max(3*noise, 1000) && nu*nu < 9*S {
		s.locked = true
		s.everLocked = true
	}
	return s.control(atNs, nowNs, true)
}

// predict propagates the state and covariance by dt seconds.
func (s *Servo) predict(dt float64) { s.advance(dt, s.qPhi) }

// learnNoise updates the measurement-noise estimate R from the second
// difference of open-loop offsets (variance 6R for white noise, equal
// intervals). Outliers are clipped so one spike cannot blow it up.
func (s *Servo) learnNoise(offsetNs float64, atNs int64) {
	// Corrections since the last sample: the frequency in force from the
	// last apply time to this sample.
	s.corrNs += s.freqPPB * float64(atNs-s.lastAtNs) * 1e-9
	u := offsetNs - s.corrNs
	dt := float64(atNs-s.prevAtNs) * 1e-9
	defer func() { s.u2, s.u1, s.dt1, s.prevAtNs = s.u1, u, dt, atNs; s.uN++ }()
	if s.uN < 2 || s.dt1 == 0 || math.Abs(dt-s.dt1) > 0.01*dt {
		return
	}
	d2 := u - 2*s.u1 + s.u2
	s.nu2Samples++
	// Robust: a median of |d2|, so interrupt-latency outliers (each in
	// three second differences) barely move it. σ(d2)² = 6R.
	s.noiseScale.add(math.Abs(d2))
	s.rNs2 = math.Max(sq(s.noiseScale.sigma())/6, sq(s.cfg.MinNoiseNs))
}

func sq(x float64) float64 { return x * x }

// medianTracker follows the median of |x| of a stream, robust to a few per
// cent of outliers, in O(1) memory: the exact median of the first 15
// values, then stochastic approximation with steps shrinking to 1/512 of
// the current value. sigma converts it to a Gaussian standard deviation
// (median |x| = 0.6745σ).
type medianTracker struct {
	med   float64
	n     int
	first [15]float64
}

func (m *medianTracker) add(x float64) {
	if m.n < len(m.first) {
		m.first[m.n] = x
		m.n++
		v := append([]float64(nil), m.first[:m.n]...)
		sort.Float64s(v)
		m.med = v[len(v)/2]
		return
	}
	m.n++
	step := m.med * math.Max(2/float64(m.n), 1.0/512)
	if x > m.med {
		m.med += step
	} else if x < m.med {
		m.med -= math.Min(step, m.med)
	}
}

func (m *medianTracker) sigma() float64 { return m.med / 0.6745 }

// learnWander estimates the oscillator's frequency wander q (ppb²/s) the
// way an Allan deviation does: for random-walk frequency noise the second
// difference of phase at lag m has mean square (2/3)·q·m³, on top of 6R
// from the timestamp noise. The largest lag with enough data whose excess
// over 6R is significant gives q, a lag where it is not gives an upper
// bound, and the least of them is taken; until the first lag has data, q
// follows the noise. Temperature steps show up as wander here, which is
// what lets the filter follow them.
func (s *Servo) learnWander(atNs int64) {
	u := s.u1 // this sample's open-loop offset (learnNoise ran first)
	// Slots by whole second, so missing and gated samples leave holes
	// instead of shifting the lags.
	sec := (atNs + 5e8) / 1e9
	i := int(uint64(sec) % wanderHist)
	s.hist[i], s.histAt[i] = u, sec
	s.histN++
	q := math.NaN()
	for li, m := range wanderLags {
		j, k := int(uint64(sec-int64(m))%wanderHist), int(uint64(sec-2*int64(m))%wanderHist)
		if s.histAt[j] != sec-int64(m) || s.histAt[k] != sec-2*int64(m) {
			continue
		}
		d := u - 2*s.hist[j] + s.hist[k]
		s.lagN[li]++
		s.lagScale[li].add(math.Abs(d))
		if s.lagN[li] < 2*m {
			continue
		}
		// Each lag gives an estimate of q where the excess over the white
		// noise is significant and an upper bound where it is not; for
		// random-walk frequency they agree, so the least is the tightest.
		excess := math.Max(sq(s.lagScale[li].sigma())-6*s.rNs2, 0.5*s.rNs2)
		if e := excess / (2.0 / 3.0 * float64(m*m*m)); math.IsNaN(q) || e < q {
			q = e
		}
	}
	if !math.IsNaN(q) {
		s.qPhi = math.Max(q, 1e-6)
		s.qLearned = true
	} else if !s.qLearned {
		s.qPhi = math.Max(s.rNs2*1e-6, 1e-4)
	}
}

// HoldFrequencyPPB is the frequency to hold when the reference is lost:
// the correction in force without the part that is slewing the current
// phase error away (that part would otherwise persist for the whole
// holdover as a frequency error).
func (s *Servo) HoldFrequencyPPB() float64 {
	return clamp(s.freqPPB-s.phiPPB, s.cfg.MaxFreqPPB)
}

// Hold applies HoldFrequencyPPB to the servo's own model and returns it.
func (s *Servo) Hold() float64 {
	f := s.HoldFrequencyPPB()
	s.phiPPB += f - s.freqPPB
	s.freqPPB = f
	return f
}

// start (re)initialises on a first sample: steps the offset away when it
// is large, and starts the frequency estimate from the one in force.
func (s *Servo) start(offsetNs float64, atNs, nowNs int64) Action {
	s.init = true
	s.n = 0
	s.p11 = s.cfg.InitialFreqSigmaPPB * s.cfg.InitialFreqSigmaPPB
	if s.nu2Samples == 0 {
		s.rNs2 = math.Max(1e8, sq(s.cfg.MinNoiseNs)) // (10 µs)² until learned
	}
	if !s.qLearned {
		s.qPhi = math.Max(s.rNs2*1e-6, 1e-4)
	}
	s.p00 = s.rNs2
	s.p01 = 0
	s.phiPPB = 0
	s.thetaNs = offsetNs
	s.freqPPB = clamp(s.freqPPB, s.cfg.MaxFreqPPB)
	s.corrNs, s.u1, s.u2, s.dt1, s.uN, s.prevAtNs = 0, offsetNs, 0, 0, 1, atNs
	s.lastAtNs = atNs
	a := Action{FreqPPB: s.freqPPB, Accepted: true}
	stepAt := s.cfg.AcquireStepNs
	if s.everLocked {
		// We were locked before: only a jump past the step threshold is
		// stepped; anything less is slewed (clients prefer that).
		stepAt = math.Max(stepAt, s.cfg.StepThresholdNs)
	}
	if math.Abs(offsetNs) > stepAt {
		a.StepNs = -int64(math.Round(offsetNs))
		s.thetaNs = 0
		s.corrNs = float64(a.StepNs)
		// Served time moved: so did the times of this sample and of now.
		s.lastAtNs += a.StepNs
		s.prevAtNs += a.StepNs
		nowNs += a.StepNs
		atNs += a.StepNs
	}
	c := s.control(atNs, nowNs, true)
	a.FreqPPB, a.SlewPPB = c.FreqPPB, c.SlewPPB
	return a
}

// control propagates the estimate from the sample time to now, applies the
// frequency estimate and slews the phase estimate away with time constant
// SlewTimeConstantS. The new frequency takes effect at nowNs.
func (s *Servo) control(atNs, nowNs int64, accepted bool) Action {
	dt := float64(nowNs-atNs) * 1e-9
	s.predict(dt)
	s.corrNs += s.freqPPB * dt
	s.lastAtNs = nowNs
	newF := s.freqPPB - s.phiPPB - s.thetaNs/s.cfg.SlewTimeConstantS
	newF = clamp(newF, s.cfg.MaxFreqPPB)
	s.phiPPB += newF - s.freqPPB
	s.freqPPB = newF
	// φ is now the rate θ grows at under the new frequency: the slew.
	return Action{FreqPPB: newF, SlewPPB: s.phiPPB, Accepted: accepted, Locked: s.locked}
}

func clamp(v, lim float64) float64 {
	return math.Max(-lim, math.Min(lim, v))
}
