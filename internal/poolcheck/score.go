package poolcheck

import (
	"fmt"
	"math"
	"time"
)

// The monitor's scoring constants (DESIGN.md "Pool safety"; ntppool/monitor
// scorer/every and scorer/statusscore).
const (
	// Decay is what is left of the score at each check: score =
	// Decay·score + step, so a server that earns +1 every check tends to
	// 1/(1−Decay) = 20.
	Decay = 0.95
	// InThreshold: the Pool sends clients only to servers scoring above it.
	InThreshold = 10.0
	// MaxScore is the highest score (the fixed point of +1 a check).
	MaxScore = 20.0
	// DefaultOffsetLimit is the largest offset still worth +1.
	DefaultOffsetLimit = 25 * time.Millisecond

	stepGood    = 1.0
	stepNoReply = -5.0
	stepRate    = -3.5
	stepDeny    = -10.0
	stepUnsync  = -4.0
	stepHugeOff = -4.0
	// A DENY or RSTR kiss holds the score at −50 or below (hours to
	// recover); an offset beyond 3 s at −20 or below.
	capDeny      = -50.0
	capHugeOff   = -20.0
	hugeOffsetNs = 3_000_000_000
	// Beyond the limit the monitor's step falls linearly to +0.5 at
	// 100 ms and to −1 at 750 ms, then is −2 (statusscore.go, 2025).
	rampMidNs  = 100_000_000
	rampEndNs  = 750_000_000
	stepFarOff = -2.0
	// The monitor docks −4 for stratum 8 and above.
	stratumHigh = 8
)

// Kind is what a check found, in the order the monitor judges it.
type Kind uint8

const (
	Replied     Kind = iota // a reply: its offset decides the step
	NoReply                 // none of the queries was answered
	KissRate                // a kiss-o'-death RATE
	KissDeny                // a kiss-o'-death DENY or RSTR
	Unsync                  // leap indicator 3, stratum 0 without a known kiss code, stratum 16+
	StratumHigh             // stratum 8 to 15
)

var kindNames = [...]string{"reply", "no reply", "KoD RATE", "KoD DENY", "unsynchronised", "stratum"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// MarshalText makes a Kind readable in JSON.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText reads what MarshalText wrote.
func (k *Kind) UnmarshalText(b []byte) error {
	for i, n := range kindNames {
		if n == string(b) {
			*k = Kind(i)
			return nil
		}
	}
	return fmt.Errorf("poolcheck: unknown kind %q", b)
}

// Result is the outcome of one check, before scoring. OffsetNs and DelayNs
// are those of the reply that counts (lowest delay) when Kind is Replied;
// Kiss is the code of a kiss-o'-death; Leap and Stratum are
// the reply's fields where there was one.
type Result struct {
	Kind     Kind   `json:"kind"`
	OffsetNs int64  `json:"offset_ns"` // server minus this machine; positive: server ahead
	DelayNs  int64  `json:"delay_ns"`  // round trip
	Stratum  int    `json:"stratum"`
	Leap     int    `json:"leap"`
	Kiss     string `json:"kiss,omitempty"`
	// Query is which query (1-based) gave the verdict of a check ended
	// early (kiss, unsynchronised, stratum); 0 otherwise.
	Query int `json:"query,omitempty"`
	// Queries is how many were sent.
	Queries int `json:"queries"`
}

// Scoring is the monitor's judgement of one check. The zero value uses the
// monitor's offset limit.
type Scoring struct {
	OffsetLimitNs int64 // 0: DefaultOffsetLimit
}

func (s Scoring) limitNs() int64 {
	if s.OffsetLimitNs > 0 {
		return s.OffsetLimitNs
	}
	return int64(DefaultOffsetLimit)
}

// Step returns the score step for r and the cap it puts on the score
// (MaxScore when none), with the reason for anything less than +1.
func (s Scoring) Step(r Result) (step, maxScore float64, reason string) {
	limit := s.limitNs()
	switch r.Kind {
	case NoReply:
		return stepNoReply, MaxScore, fmt.Sprintf("no reply to %d queries", r.Queries)
	case KissRate:
		return stepRate, MaxScore, fmt.Sprintf("kiss-o'-death RATE on query %d: the server rate limits this client", r.Query)
	case KissDeny:
		return stepDeny, capDeny, fmt.Sprintf("kiss-o'-death %s on query %d: access refused; the score is held at %.0f or below", r.Kiss, r.Query, capDeny)
	case Unsync:
		return stepUnsync, MaxScore, "unsynchronised: " + unsyncWhy(r)
	case StratumHigh:
		return stepUnsync, MaxScore, fmt.Sprintf("stratum %d: the monitor docks stratum %d and above", r.Stratum, stratumHigh)
	}
	abs := r.OffsetNs
	if abs < 0 {
		abs = -abs
	}
	if abs <= limit {
		return stepGood, MaxScore, ""
	}
	beyond := fmt.Sprintf("offset %+.1f ms is %.1f ms beyond the %s limit", ms(r.OffsetNs), ms(abs-limit), time.Duration(limit))
	switch {
	case abs > hugeOffsetNs:
		return stepHugeOff, capHugeOff, beyond + fmt.Sprintf("; beyond 3 s the score is held at %.0f or below", capHugeOff)
	case abs > rampEndNs:
		return stepFarOff, MaxScore, beyond
	}
	return offsetRamp(abs, limit), MaxScore, beyond
}

// offsetRamp is the monitor's step for an offset beyond the limit and
// within 750 ms: linear from +1 at the limit to +0.5 at 100 ms, then to −1
// at 750 ms. With the default limit (25 ms) it is statusscore.go's
// −6.667·s + 1.167 and −2.308·s + 0.731.
func offsetRamp(absNs, limitNs int64) float64 {
	if absNs <= rampMidNs && limitNs < rampMidNs {
		return 1 - 0.5*float64(absNs-limitNs)/float64(rampMidNs-limitNs)
	}
	from := max(limitNs, rampMidNs)
	return 0.5 - 1.5*float64(absNs-from)/float64(rampEndNs-rampMidNs)
}

func unsyncWhy(r Result) string {
	switch {
	case r.Kind != Unsync:
		return ""
	case r.Stratum == 0 && r.Kiss != "":
		return fmt.Sprintf("stratum 0 with kiss code %q (not RATE, DENY or RSTR), leap indicator %d", r.Kiss, r.Leap)
	case r.Stratum == 0 || r.Stratum >= 16:
		return fmt.Sprintf("leap indicator %d, stratum %d", r.Leap, r.Stratum)
	}
	return fmt.Sprintf("leap indicator %d (alarm), stratum %d", r.Leap, r.Stratum)
}

func ms(ns int64) float64 { return float64(ns) / 1e6 }

// Next is the monitor's update: Decay·score + step, held at maxScore or
// below.
func Next(score, step, maxScore float64) float64 {
	return math.Min(Decay*score+step, maxScore)
}

// Scored is a step and the cap that came with it.
type Scored struct {
	Step     float64 `json:"step"`
	MaxScore float64 `json:"max_score"`
}

// Projection is what the score does if every further check goes as the
// observed ones did, repeated in their order.
type Projection struct {
	// CrossAt is the number of further checks until the score first
	// crosses InThreshold (upwards if it is at or below now, downwards if
	// above); -1 if it never does.
	CrossAt int  `json:"cross_at"`
	Up      bool `json:"up"` // the crossing is upwards (into the Pool)
	// SettleLow and SettleHigh bound where the score settles (one value
	// when every check went the same way); SettleMean is their average
	// over a cycle of the observed checks.
	SettleLow  float64 `json:"settle_low"`
	SettleHigh float64 `json:"settle_high"`
	SettleMean float64 `json:"settle_mean"`
	// In says whether the settled score stays above InThreshold.
	In bool `json:"in"`
	// Curve is the score after each further check, up to the horizon.
	Curve []float64 `json:"curve"`
}

// projectCycles: the score forgets its start at 0.95 a check; 600 checks
// leave 0.95^600 ≈ 4e-14 of it, so the last cycle is the settled one.
const projectChecks = 600

// Project repeats the observed steps from score until the score has
// forgotten where it started. With no steps it returns CrossAt -1 and the
// score as it is.
func Project(score float64, observed []Scored) Projection {
	p := Projection{CrossAt: -1, SettleLow: score, SettleHigh: score, SettleMean: score, In: score > InThreshold}
	if len(observed) == 0 {
		return p
	}
	cycles := (projectChecks + len(observed) - 1) / len(observed)
	n := cycles * len(observed)
	p.Curve = make([]float64, 0, n)
	inNow := score > InThreshold
	p.Up = !inNow
	s := score
	for i := range n {
		o := observed[i%len(observed)]
		s = Next(s, o.Step, o.MaxScore)
		p.Curve = append(p.Curve, s)
		if p.CrossAt < 0 && (s > InThreshold) != inNow {
			p.CrossAt = i + 1
		}
	}
	last := p.Curve[n-len(observed):]
	p.SettleLow, p.SettleHigh, p.SettleMean = last[0], last[0], 0
	for _, v := range last {
		p.SettleLow = math.Min(p.SettleLow, v)
		p.SettleHigh = math.Max(p.SettleHigh, v)
		p.SettleMean += v / float64(len(last))
	}
	p.In = p.SettleLow > InThreshold
	return p
}
