package discipline

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/gpsntp/gpsntp/gps"
	"github.com/gpsntp/gpsntp/pps"
)

// Oscillator models the host's clock for accelerated simulation (the Sim
// backend): reading r(t) = t + phase(t) at true time t, with a frequency
// error that starts at FreqPPB, wanders as a random walk of intensity
// WanderQ (ppb²/s) and jumps by ThermalStepPPB (alternating sign) every
// ThermalEveryS seconds, as a crystal does when the room's temperature
// steps. Time advances one whole second at a time; within a second the
// frequency is constant.
type Oscillator struct {
	phaseNs float64 // r − t at the start of the current second
	freqPPB float64 // rate of phase change (ns/s), positive: runs fast
	second  int64   // current true second
	wanderQ float64
	stepPPB float64
	stepS   int64
	rng     *rand.Rand
	baseNs  int64 // true time of second 0, ns since the Unix epoch
}

// ReadNs returns the oscillator's reading (CLOCK_REALTIME in simulation) at
// true time second+fracNs (0 ≤ fracNs < 1e9) of the current second.
func (o *Oscillator) ReadNs(fracNs float64) int64 {
	t := float64(o.second)*1e9 + fracNs
	return o.baseNs + int64(math.Round(t+o.phaseNs+o.freqPPB*fracNs*1e-9))
}

// Advance moves to the next true second.
func (o *Oscillator) Advance() {
	o.phaseNs += o.freqPPB
	o.second++
	if o.wanderQ > 0 {
		o.freqPPB += o.rng.NormFloat64() * math.Sqrt(o.wanderQ)
	}
	if o.stepS > 0 && o.second%o.stepS == 0 {
		if (o.second/o.stepS)%2 == 1 {
			o.freqPPB += o.stepPPB
		} else {
			o.freqPPB -= o.stepPPB
		}
	}
}

// Scenario is one accelerated simulation of the appliance's timing.
type Scenario struct {
	Name    string
	Seconds int64
	// PPS timestamp noise: white, σ JitterNs; OutlierFrac of edges are late
	// by OutlierMinNs–OutlierMaxNs (interrupt latency).
	JitterNs                   float64
	OutlierFrac                float64
	OutlierMinNs, OutlierMaxNs float64
	// Oscillator: initial frequency error (a draw of ±FreqSpreadPPB),
	// random-walk wander, temperature steps.
	FreqSpreadPPB  float64
	WanderQ        float64 // ppb²/s
	ThermalStepPPB float64
	ThermalEveryS  int64
	// DriftFile: the servo starts from a drift file within 100 ppb of the
	// truth; otherwise from 0 with ±50 ppm uncertainty.
	DriftFile bool
	// NMEA burst delay after the edge, and the fraction of bursts missing.
	NMEADelayNs  int64
	NMEAMissFrac float64
	// GPS (PPS and NMEA) absent from LossStartS for LossS seconds.
	LossStartS, LossS int64
}

// Scenarios are the standard scenarios of `gpsntpctl simulate`.
func Scenarios() []Scenario {
	base := Scenario{Seconds: 8 * 3600, JitterNs: 1000, FreqSpreadPPB: 20e3, WanderQ: 0.01, DriftFile: true, NMEADelayNs: 120e6}
	quiet := base
	quiet.Name = "quiet"
	thermal := base
	thermal.Name, thermal.ThermalStepPPB, thermal.ThermalEveryS = "thermal", 500, 1800
	noisy := base
	noisy.Name, noisy.JitterNs, noisy.OutlierFrac, noisy.OutlierMinNs, noisy.OutlierMaxNs = "noisy", 5000, 0.01, 50e3, 500e3
	loss := base
	loss.Name, loss.LossStartS, loss.LossS = "gpsloss", 3600, 3600
	cold := base
	cold.Name, cold.DriftFile, cold.FreqSpreadPPB = "cold", false, 50e3
	late := base
	late.Name, late.NMEADelayNs, late.NMEAMissFrac = "lateNMEA", 900e6, 0.02
	return []Scenario{quiet, thermal, noisy, loss, cold, late}
}

// settleS: errors count from this long after lock. The servo learns the
// noise it is given (timestamp noise within seconds, oscillator wander
// at lags up to 1024 s, so within the first hour); the figures are its
// steady state, as the bound is the Kalman filter's.
const settleS = 3600

// Result is what a scenario run measured. Errors are served time minus
// true time at each true second, from lock + settleS, outside a GPS loss
// and the 300 s after it.
type Result struct {
	Scenario        string
	LockS           int64 // first second the engine claimed synchronisation (-1: never)
	RMSNs, P99Ns    float64
	MaxNs           float64
	BoundRMSNs      float64 // RMS one-second prediction error of a Kalman filter told the true noise
	Holdover1hUs    float64 // |error| after the GPS loss (0 if none)
	HoldoverModelUs float64 // what the oscillator model alone implies for that loss (1σ)
	StepsAfterLock  uint64
	MislabeledS     int64 // synchronised seconds with |error| ≥ 0.5 s
	// OverBoundS: synchronised seconds whose |error| exceeded the root
	// dispersion the server advertised then (the error bound clients
	// trust), from lock on, GPS losses included.
	OverBoundS int64
	Counters   Counters
}

func (r Result) String() string {
	return fmt.Sprintf("RESULT scenario=%s lock_s=%d rms_ns=%.0f p99_ns=%.0f max_ns=%.0f bound_rms_ns=%.0f holdover_1h_us=%.1f holdover_model_us=%.1f steps_after_lock=%d mislabeled_s=%d over_bound_s=%d",
		r.Scenario, r.LockS, r.RMSNs, r.P99Ns, r.MaxNs, r.BoundRMSNs, r.Holdover1hUs, r.HoldoverModelUs, r.StepsAfterLock, r.MislabeledS, r.OverBoundS)
}

// Simulate runs the real Engine and Servo on a Soft clock whose
// CLOCK_REALTIME is an Oscillator, fed PPS edges and NMEA fixes generated
// from true time, seconds at a time without sleeping.
//
// For a scenario with a GPS loss, the holdover error is a random variable
// dominated by one realisation of the oscillator's wander, so it is run
// with holdoverSeeds seeds and Holdover1hUs is the RMS over them, to be
// compared with HoldoverModelUs (the 1σ the wander alone implies).
func Simulate(sc Scenario, seed uint64) Result {
	r := simulateWith(sc, seed, 0)
	if sc.LossS > 0 {
		s2 := r.Holdover1hUs * r.Holdover1hUs
		for i := uint64(1); i < holdoverSeeds; i++ {
			h := simulateWith(sc, seed+i*7919, 0).Holdover1hUs
			s2 += h * h
		}
		r.Holdover1hUs = math.Sqrt(s2 / holdoverSeeds)
	}
	return r
}

const holdoverSeeds = 16

func simulateWith(sc Scenario, seed uint64, tau float64) Result {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	osc := &Oscillator{
		freqPPB: (2*rng.Float64() - 1) * sc.FreqSpreadPPB,
		wanderQ: sc.WanderQ, stepPPB: sc.ThermalStepPPB, stepS: sc.ThermalEveryS,
		rng: rand.New(rand.NewPCG(seed, 0x05c)), baseNs: 1_800_000_000e9,
		phaseNs: (2*rng.Float64() - 1) * 0.4e9, // the host clock is up to 0.4 s off
	}
	var nowNs int64
	clock := NewSoft(func() int64 { return nowNs })
	servo := ServoConfig{SlewTimeConstantS: tau}
	if sc.DriftFile {
		servo.InitialFreqPPB = -osc.freqPPB + (2*rng.Float64()-1)*100
		servo.InitialFreqSigmaPPB = 1000
	}
	eng := NewEngine(Config{Clock: clock, PPS: true, NMEADelayNs: sc.NMEADelayNs, Servo: servo})
	clock.SetFrequency(servo.InitialFreqPPB)

	ref := newRefKalman(sc.JitterNs, sc.WanderQ, sc.ThermalStepPPB, sc.ThermalEveryS)
	res := Result{Scenario: sc.Name, LockS: -1}
	var errs []float64
	var refErr2 float64
	var nRef int
	stepsAtLock := uint64(0)
	lossEnd := sc.LossStartS + sc.LossS
	for s := int64(0); s < sc.Seconds; s++ {
		label := osc.baseNs + s*1e9
		// Error of the served clock at the true second, before this
		// second's measurement is known.
		nowNs = osc.ReadNs(0)
		errNs := float64(clock.Map(nowNs) - label)
		r := eng.Ref().Load()
		if r.Synchronised && math.Abs(errNs) >= 0.5e9 {
			res.MislabeledS++
		}
		if r.Synchronised && math.Abs(errNs) > float64(r.RootDispersionAt(clock.Map(nowNs))) {
			res.OverBoundS++
		}
		lost := sc.LossS > 0 && s >= sc.LossStartS && s < lossEnd
		if s == lossEnd && sc.LossS > 0 {
			res.Holdover1hUs = math.Abs(errNs) / 1e3
		}
		settled := res.LockS >= 0 && s > res.LockS+settleS && !(sc.LossS > 0 && s >= sc.LossStartS && s < lossEnd+300)
		// The reference filter predicts this second from the last ones.
		refPred := ref.predict()
		if settled {
			errs = append(errs, errNs)
			d := refPred - osc.phaseNs
			refErr2 += d * d
			nRef++
		}

		if !lost {
			simulateSecond(sc, rng, osc, eng, ref, &nowNs, s, label)
		}
		nowNs = osc.ReadNs(950e6)
		eng.Tick(nowNs)
		if res.LockS < 0 && eng.Ref().Load().Synchronised {
			res.LockS = s
			stepsAtLock = eng.Status().Counters.Steps
		}
		osc.Advance()
	}
	st := eng.Status()
	res.Counters = st.Counters
	if res.LockS >= 0 {
		res.StepsAfterLock = st.Counters.Steps - stepsAtLock
	}
	res.RMSNs, res.P99Ns, res.MaxNs = errorStats(errs)
	if nRef > 0 {
		res.BoundRMSNs = math.Sqrt(refErr2 / float64(nRef))
	}
	if sc.LossS > 0 {
		// Phase error of a random-walk frequency over T seconds: σ² = q·T³/3.
		T := float64(sc.LossS)
		res.HoldoverModelUs = math.Sqrt(sc.WanderQ*T*T*T/3) / 1e3
	}
	return res
}

// simulateSecond feeds the engine second s's PPS edge, timestamped by
// the (noisy) kernel, and, unless the scenario drops it, the fix labelling
// it; the reference filter sees the same edge. nowNs is the simulated
// host clock the Soft clock reads.
func simulateSecond(sc Scenario, rng *rand.Rand, osc *Oscillator, eng *Engine, ref *refKalman, nowNs *int64, s, label int64) {
	noise := rng.NormFloat64() * sc.JitterNs
	outlier := rng.Float64() < sc.OutlierFrac
	if outlier {
		noise += sc.OutlierMinNs + rng.Float64()*(sc.OutlierMaxNs-sc.OutlierMinNs)
	}
	*nowNs = osc.ReadNs(0) + int64(noise)
	eng.Edge(pps.Edge{AssertNs: *nowNs, Seq: uint32(s)})
	if !outlier {
		ref.update(osc.phaseNs + noise)
	}
	if rng.Float64() >= sc.NMEAMissFrac {
		*nowNs = osc.ReadNs(float64(sc.NMEADelayNs))
		eng.Fix(gps.Fix{Time: time.Unix(0, label).UTC(), TimeValid: true, Mode: gps.Mode3D, ArrivalNs: *nowNs})
	}
}

// errorStats is the RMS, 99th percentile and maximum of |errs| (ns).
func errorStats(errs []float64) (rmsNs, p99Ns, maxNs float64) {
	if len(errs) == 0 {
		return 0, 0, 0
	}
	var s2 float64
	abs := make([]float64, len(errs))
	for i, e := range errs {
		s2 += e * e
		abs[i] = math.Abs(e)
	}
	sort.Float64s(abs)
	return math.Sqrt(s2 / float64(len(errs))), abs[len(abs)*99/100], abs[len(abs)-1]
}

// refKalman is the yardstick: a Kalman filter over the oscillator's phase
// and frequency, given the scenario's true noise (R = σ², Q from the
// wander and, for temperature steps, their mean power), fed only the
// outlier-free timestamps. Its one-second prediction error is the best any
// causal estimator can serve.
type refKalman struct {
	phaseFreq
	r, q float64
	init int
	z0   float64
}

func newRefKalman(jitterNs, wanderQ, stepPPB float64, stepEvery int64) *refKalman {
	q := wanderQ
	if stepEvery > 0 {
		q += stepPPB * stepPPB / float64(stepEvery)
	}
	return &refKalman{r: math.Max(jitterNs*jitterNs, 1), q: math.Max(q, 1e-6)}
}

func (k *refKalman) predict() float64 {
	if k.init == 2 {
		k.advance(1, k.q)
	}
	return k.thetaNs
}

func (k *refKalman) update(z float64) {
	switch k.init {
	case 0:
		k.z0, k.init = z, 1
		k.thetaNs = z
		return
	case 1:
		k.thetaNs, k.phiPPB = z, z-k.z0
		k.p00, k.p01, k.p11 = k.r, k.r, 2*k.r
		k.init = 2
		return
	}
	k.correct(z-k.thetaNs, k.p00+k.r)
}
