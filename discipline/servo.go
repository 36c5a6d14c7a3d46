package discipline

import "math"

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
	// SlewTimeConstantS: the residual phase error is removed with a time
	// constant of this many seconds (default 4 s).
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
	if c.SlewTimeConstantS == 0 {
		c.SlewTimeConstantS = 4
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

	init       bool
	locked     bool
	lastAtNs   int64   // served time the state refers to (the last apply)
	thetaNs    float64 // estimated phase error at lastAtNs
	phiPPB     float64 // estimated frequency error after the last control
	p00        float64 // covariance of θ (ns²)
	p01        float64 // covariance θ·φ (ns·ppb)
	p11        float64 // covariance of φ (ppb²)
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
	cfgAcquire float64 // AcquireStepNs as configured
}

// NewServo returns a servo in its initial (unlocked) state.
func NewServo(cfg ServoConfig) *Servo {
	s := &Servo{cfg: cfg.withDefaults()}
	s.freqPPB = s.cfg.InitialFreqPPB
	s.cfgAcquire = s.cfg.AcquireStepNs
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

// FreqSigmaPPB is the 1σ uncertainty of the frequency estimate.
func (s *Servo) FreqSigmaPPB() float64 { return math.Sqrt(math.Max(s.p11, 0)) }

// LastOffsetNs is the last raw offset sample given.
func (s *Servo) LastOffsetNs() float64 { return s.lastOffset }

// Reset forgets the phase estimate but keeps the frequency in force (used
// after a source change or a long gap).
func (s *Servo) Reset() {
	f := s.freqPPB
	sig := math.Max(math.Sqrt(math.Max(s.p11, 0)), 1e3)
	r, nr := s.rNs2, s.nu2Samples
	*s = Servo{cfg: s.cfg, freqPPB: f, rNs2: r, nu2Samples: nr, cfgAcquire: s.cfgAcquire}
	s.cfg.InitialFreqSigmaPPB = sig
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
	if dt <= 0 || dt > 600 {
		// Time went backwards or a long gap: the model no longer applies.
		s.Reset()
		return s.start(offsetNs, atNs, nowNs)
	}
	s.learnNoise(offsetNs, atNs)
	s.predict(dt)

	nu := offsetNs - s.thetaNs
	S := s.p00 + s.rNs2

	// Gate outliers once we know what normal looks like.
	if s.n >= 4 && nu*nu > 25*S {
		s.rejects++
		s.rejectSum += nu
		if s.rejects >= 10 {
			// Not outliers: the reference moved (or we did). Step if it is
			// large or we never locked, otherwise re-acquire by slewing.
			mean := s.rejectSum / float64(s.rejects)
			locked := s.locked
			s.Reset()
			if !locked || math.Abs(mean) > s.cfg.StepThresholdNs {
				return s.start(offsetNs, atNs, nowNs)
			}
			s.cfg.AcquireStepNs = math.Inf(1) // slew, never step
			a := s.start(offsetNs, atNs, nowNs)
			s.cfg.AcquireStepNs = s.cfgAcquire
			s.locked = true
			a.Locked = true
			return a
		}
		// Keep the prediction (time passes) without the measurement.
		return s.control(atNs, nowNs, false)
	}
	s.rejects, s.rejectSum = 0, 0

	// Update.
	k0, k1 := s.p00/S, s.p01/S
	s.thetaNs += k0 * nu
	s.phiPPB += k1 * nu
	p00, p01, p11 := s.p00, s.p01, s.p11
	s.p00 = (1 - k0) * p00
	s.p01 = (1 - k0) * p01
	s.p11 = p11 - k1*p01
	s.n++
	w := 1 / math.Min(float64(s.n)+1, 64)
	s.jitterNs = math.Sqrt((1-w)*s.jitterNs*s.jitterNs + w*math.Min(nu*nu, 9*S))
	// Frequency wander scaled to the noise: a noisy source cannot resolve
	// fine wander anyway, a clean one tracks temperature faster.
	s.qPhi = math.Max(s.rNs2*1e-6, 1e-4)

	// Locked once the frequency is known as well as one second of input
	// noise allows (and at least to 1 ppm), and the phase has settled: the
	// residual error and the latest innovation within three times the noise.
	noise := math.Sqrt(s.rNs2)
	if !s.locked && s.n >= 4 && math.Sqrt(s.p11) < math.Max(1000, noise) &&
		math.Abs(s.thetaNs) < 3*noise && nu*nu < 9*S {
		s.locked = true
	}
	return s.control(atNs, nowNs, true)
}

// predict propagates the state and covariance by dt seconds.
func (s *Servo) predict(dt float64) {
	q := s.qPhi
	s.thetaNs += s.phiPPB * dt
	s.p00 += 2*dt*s.p01 + dt*dt*s.p11 + q*dt*dt*dt/3
	s.p01 += dt*s.p11 + q*dt*dt/2
	s.p11 += q * dt
}

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
	v := d2 * d2 / 6
	if s.nu2Samples >= 8 {
		v = math.Min(v, 9*s.rNs2)
	}
	s.nu2Samples++
	if s.nu2Samples == 1 {
		s.rNs2 = v
	} else {
		w := 1 / math.Min(float64(s.nu2Samples), 64)
		s.rNs2 = (1-w)*s.rNs2 + w*v
	}
	if s.rNs2 < 100 { // 10 ns: below any real PPS timestamp's noise
		s.rNs2 = 100
	}
}

// start (re)initialises on a first sample: steps the offset away when it
// is large, and starts the frequency estimate from the one in force.
func (s *Servo) start(offsetNs float64, atNs, nowNs int64) Action {
	s.init = true
	s.n = 0
	s.p11 = s.cfg.InitialFreqSigmaPPB * s.cfg.InitialFreqSigmaPPB
	if s.nu2Samples == 0 {
		s.rNs2 = 1e8 // (10 µs)² until learned
	}
	s.qPhi = math.Max(s.rNs2*1e-6, 1e-4)
	s.p00 = s.rNs2
	s.p01 = 0
	s.phiPPB = 0
	s.thetaNs = offsetNs
	s.freqPPB = clamp(s.freqPPB, s.cfg.MaxFreqPPB)
	s.corrNs, s.u1, s.u2, s.dt1, s.uN, s.prevAtNs = 0, offsetNs, 0, 0, 1, atNs
	s.lastAtNs = atNs
	a := Action{FreqPPB: s.freqPPB, Accepted: true}
	if math.Abs(offsetNs) > s.cfg.AcquireStepNs {
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
	a.FreqPPB = c.FreqPPB
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
	return Action{FreqPPB: newF, Accepted: accepted, Locked: s.locked}
}

func clamp(v, lim float64) float64 {
	return math.Max(-lim, math.Min(lim, v))
}
