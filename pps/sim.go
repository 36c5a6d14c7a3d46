package pps

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	"github.com/gpsntp/gpsntp/internal/simtime"
)

// SimEdge is a generated edge with the ground truth behind it.
type SimEdge struct {
	Edge
	// GPSSecond is the simulated GPS (UTC) second the edge marks, in
	// seconds since the Unix epoch: the label the discipline must find.
	GPSSecond int64
	// TrueNs is the host time of the ideal edge, tl.HostAt(GPSSecond·1e9);
	// AssertNs − TrueNs is the noise (jitter, spike, delay) added to it.
	TrueNs int64
	// Spike is set on edges given an outlier error by SimSpikes.
	Spike bool
}

// SimOption configures NewGenerator and NewSim.
type SimOption func(*simConfig)

type simConfig struct {
	first     int64
	haveFirst bool
	missProb  float64
	missing   func(gpsSecond int64) bool
	spikeProb float64
	spikeNs   float64
	delayNs   int64
	seq       uint32
}

// SimFirstSecond makes GPS second n (Unix seconds) the first pulse. By
// default the generator starts at the first whole GPS second after
// tl.StartHostNs, and NewSim at the first one after now.
func SimFirstSecond(n int64) SimOption {
	return func(c *simConfig) { c.first, c.haveFirst = n, true }
}

// SimMissProb drops each pulse independently with probability p (the
// receiver did not emit it: no edge, no sequence number used).
func SimMissProb(p float64) SimOption { return func(c *simConfig) { c.missProb = p } }

// SimMissing drops the pulses for which f(gpsSecond) is true, for scripted
// outages ("no PPS from second 100 to 160").
func SimMissing(f func(gpsSecond int64) bool) SimOption {
	return func(c *simConfig) { c.missing = f }
}

// SimSpikes gives each pulse, with probability p, an extra error of ±size
// (random sign) on top of the jitter: interrupt latency outliers.
func SimSpikes(p float64, size time.Duration) SimOption {
	return func(c *simConfig) { c.spikeProb, c.spikeNs = p, float64(size) }
}

// SimDelay adds a constant latency to every timestamp (positive: late), as
// a real board's capture path does (about +11 µs on a Pi 5).
func SimDelay(d time.Duration) SimOption { return func(c *simConfig) { c.delayNs = int64(d) } }

// SimFirstSeq sets the sequence number of the first edge (default 1).
func SimFirstSeq(seq uint32) SimOption { return func(c *simConfig) { c.seq = seq - 1 } }

// Generator produces simulated edges without sleeping, for accelerated
// simulations: edge N is at host time tl.HostAt(N·1e9) + N(0, jitter²)
// (+ spikes, + delay). Same seed, same options → same edges.
type Generator struct {
	tl       simtime.Timeline
	jitterNs float64
	rng      *rand.Rand
	cfg      simConfig
	next     int64
}

// NewGenerator returns a generator over tl. jitter is the standard
// deviation of the Gaussian timestamp noise.
func NewGenerator(tl simtime.Timeline, jitter time.Duration, seed int64, opts ...SimOption) *Generator {
	g := &Generator{tl: tl, jitterNs: float64(jitter), rng: rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15))}
	for _, o := range opts {
		o(&g.cfg)
	}
	g.next = g.cfg.first
	if !g.cfg.haveFirst {
		g.next = firstSecondAfter(tl, tl.StartHostNs)
	}
	return g
}

// firstSecondAfter is the first whole GPS second strictly after host time hostNs.
func firstSecondAfter(tl simtime.Timeline, hostNs int64) int64 {
	gps := tl.GPSAt(hostNs)
	return int64(math.Floor(float64(gps)/1e9)) + 1
}

// Next returns the next emitted edge, skipping missing pulses.
func (g *Generator) Next() SimEdge {
	for {
		n := g.next
		g.next++
		// Draw every random number for every second, emitted or not, so
		// that enabling an outage does not change the noise elsewhere.
		noise := g.rng.NormFloat64() * g.jitterNs
		missU, spikeU, signU := g.rng.Float64(), g.rng.Float64(), g.rng.Float64()
		if missU < g.cfg.missProb || (g.cfg.missing != nil && g.cfg.missing(n)) {
			continue
		}
		spike := spikeU < g.cfg.spikeProb
		if spike {
			if signU < 0.5 {
				noise -= g.cfg.spikeNs
			} else {
				noise += g.cfg.spikeNs
			}
		}
		g.cfg.seq++
		trueNs := g.tl.HostAt(n * 1e9)
		return SimEdge{
			Edge:      Edge{AssertNs: trueNs + int64(math.Round(noise)) + g.cfg.delayNs, Seq: g.cfg.seq},
			GPSSecond: n,
			TrueNs:    trueNs,
			Spike:     spike,
		}
	}
}

// Sim is a real-time Source over a Generator: each edge is delivered when
// the host clock (CLOCK_REALTIME) reaches its timestamp. Like PPS_FETCH, a
// reader that falls more than a second behind gets the newest edge, and the
// skipped ones show as a gap in Seq.
type Sim struct {
	gen     *Generator
	pending *SimEdge
	now     func() time.Time
	done    chan struct{}
	closeO  sync.Once
}

// NewSim returns a real-time simulated PPS source; see Generator for the
// model. The first edge is the first whole GPS second after now, unless
// SimFirstSecond says otherwise.
func NewSim(tl simtime.Timeline, jitter time.Duration, seed int64, opts ...SimOption) *Sim {
	var c simConfig
	for _, o := range opts {
		o(&c)
	}
	if !c.haveFirst {
		opts = append(opts, SimFirstSecond(firstSecondAfter(tl, time.Now().UnixNano())))
	}
	return &Sim{gen: NewGenerator(tl, jitter, seed, opts...), now: time.Now, done: make(chan struct{})}
}

// Next sleeps until the next edge's timestamp and returns it.
func (s *Sim) Next(ctx context.Context) (Edge, error) {
	e, err := s.NextSim(ctx)
	return e.Edge, err
}

// NextSim is Next with the ground truth.
func (s *Sim) NextSim(ctx context.Context) (SimEdge, error) {
	if s.pending == nil {
		e := s.gen.Next()
		s.pending = &e
	}
	// Sleep to an absolute deadline: the wait is recomputed from the edge's
	// own timestamp each time, so errors never accumulate.
	if d := time.Unix(0, s.pending.AssertNs).Sub(s.now()); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return SimEdge{}, ctx.Err()
		case <-s.done:
			return SimEdge{}, errSimClosed
		}
	}
	select {
	case <-s.done:
		return SimEdge{}, errSimClosed
	default:
	}
	e := *s.pending
	nowNs := s.now().UnixNano()
	for {
		n := s.gen.Next()
		if n.AssertNs > nowNs {
			s.pending = &n
			break
		}
		e = n // the reader was late: keep only the newest due edge
	}
	return e, nil
}

// Close makes blocked and later calls to Next fail with an error matching
// os.ErrClosed.
func (s *Sim) Close() error {
	s.closeO.Do(func() { close(s.done) })
	return nil
}

var errSimClosed = fmt.Errorf("pps: simulated source: %w", os.ErrClosed)
