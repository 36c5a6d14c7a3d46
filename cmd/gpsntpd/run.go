package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gpsntp/gpsntp/discipline"
	"github.com/gpsntp/gpsntp/gps"
	"github.com/gpsntp/gpsntp/ntpserve"
	"github.com/gpsntp/gpsntp/pps"
)

// shutdownGrace is how long Run waits for its components after the first
// failure or the stop signal: a supervisor (systemd, gokrazy) must see the
// daemon exit within seconds, whatever a stuck component does.
const shutdownGrace = time.Second

// supervisor runs named tasks; the first that fails, or returns while the
// daemon runs, cancels the others with its name and error as the cause.
type supervisor struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	running map[string]int
}

func newSupervisor(ctx context.Context) *supervisor {
	s := &supervisor{running: map[string]int{}}
	s.ctx, s.cancel = context.WithCancelCause(ctx)
	return s
}

func (s *supervisor) Go(t task) {
	s.wg.Add(1)
	s.mu.Lock()
	s.running[t.name]++
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		err := t.run(s.ctx)
		s.mu.Lock()
		s.running[t.name]--
		s.mu.Unlock()
		if s.ctx.Err() != nil {
			return
		}
		if err == nil {
			err = errComponentStopped
		}
		s.cancel(fmt.Errorf("%s: %w", t.name, err))
	}()
}

// stop cancels every task and waits for them up to grace; it returns the
// names of those still running then.
func (s *supervisor) stop(grace time.Duration) []string {
	s.cancel(context.Canceled)
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-time.After(grace):
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var stuck []string
	for name, n := range s.running {
		if n > 0 {
			stuck = append(stuck, name)
		}
	}
	sort.Strings(stuck)
	return stuck
}

// Run runs the appliance until ctx is done (nil error: a clean stop) or a
// component fails (its error). Either way it returns within about
// shutdownGrace, saving what persists first.
func (a *appliance) Run(ctx context.Context) error {
	sup := newSupervisor(ctx)
	for _, t := range a.tasks {
		sup.Go(t)
	}
	fixes := make(chan gps.Fix, 16)
	edges := make(chan pps.Edge, 16)
	sup.Go(task{"gps", func(ctx context.Context) error { return a.receiver.Run(ctx, fixes) }})
	if a.ppsSrc != nil {
		sup.Go(task{"pps", func(ctx context.Context) error { return forwardEdges(ctx, a.ppsSrc, edges) }})
	}
	cons := startConsole(sup.ctx, consoleConfig(a.o, a.cfg), a.consoleDev, a.col.get, a.log)
	a.consoleDev = nil // the console's now

	a.loop(sup.ctx, fixes, edges, &cons)

	a.persist.flush(a.clock.Now(), a.engine.Ref().Load())
	cause := context.Cause(sup.ctx)
	cons.stop()
	if stuck := sup.stop(shutdownGrace); len(stuck) > 0 {
		a.log.Error("components did not stop in time; exiting anyway", "components", strings.Join(stuck, ","), "grace", shutdownGrace)
	}
	if errors.Is(cause, context.Canceled) && ctx.Err() != nil {
		return nil
	}
	return cause
}

// forwardEdges passes the source's edges to the discipline loop.
func forwardEdges(ctx context.Context, src pps.Source, edges chan<- pps.Edge) error {
	for {
		e, err := src.Next(ctx)
		if err != nil {
			return err
		}
		select {
		case edges <- e:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// loop is the discipline loop, the only goroutine that calls the engine.
// It returns when ctx is done.
func (a *appliance) loop(ctx context.Context, fixes <-chan gps.Fix, edges <-chan pps.Edge, cons **consoleRunner) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var status <-chan time.Time
	if a.o.statusEvery > 0 && consoleConfig(a.o, a.cfg).Device != "-" {
		st := time.NewTicker(a.o.statusEvery)
		defer st.Stop()
		status = st.C
	}
	devState := gps.DeviceConnecting
	var clockFailures uint64 // System clock changes the kernel refused, as logged
	var niceRefused uint64   // NTP workers refused their busy priority, as logged
	a.col.tick(time.Now().UnixNano(), a)
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-edges:
			a.engine.Edge(e)
			a.logEngineEvents()
		case f := <-fixes:
			a.engine.Fix(f)
			a.logEngineEvents()
		case <-a.env.hup:
			*cons = reload(ctx, a.o, &a.cfg, *cons, a.col.get, a.server.SetAccess, a.log)
		case now := <-tick.C:
			a.feedUpstream(now.UnixNano())
			a.engine.Tick(now.UnixNano())
			a.logEngineEvents()
			a.persist.tick(a.clock.Now(), a.engine.Ref().Load())
			devState = logDevice(a.log, a.gpsCfg.Device, a.receiver.Stats(), devState)
			clockFailures = logClockFailures(a.log, a.clock, clockFailures)
			niceRefused = logNiceRefused(a.log, a.server.Stats().BusyNiceRefused, niceRefused)
			a.col.tick(now.UnixNano(), a)
		case <-status:
			fmt.Fprintln(os.Stdout, a.statusLine())
		}
	}
}

// feedUpstream passes the upstream servers' estimate to the engine when
// it changed, which is at nearly every tick: the error bound grows with
// the samples' age, and the offset follows the clock as the engine slews
// it (package upstream re-expresses its samples with Engine.SlewedNs). In
// state Upstream each one is a sample for the upstream servo, which slews
// by its control law between them; an estimate not re-expressed would
// tell it, tick after tick, that the offset it slewed away is still there
// (TestEndToEndUpstreamSlew). Offsets change sign here: package upstream
// says their time minus ours, the engine ours minus theirs.
func (a *appliance) feedUpstream(realNs int64) {
	if a.upstream == nil {
		return
	}
	est, ok := a.upstream.Estimate()
	// Silent: no association has answered and each has failed (no reply,
	// a name that does not resolve), so the receiver need not wait.
	silent := !ok
	for _, st := range a.upstream.Status() {
		if st.Reach != 0 || st.LastError == "" || st.LastError == "resolving" {
			silent = false
		}
	}
	key := fmt.Sprint(ok, est.OffsetNs, est.ErrorNs, est.SystemPeer, est.Truechimers, silent)
	if key == a.upKey {
		return
	}
	a.upKey = key
	sources := make([]string, len(est.Selected))
	for i, s := range est.Selected {
		sources[i] = s.Addr().String()
		if s.Port() != 123 {
			sources[i] = s.String()
		}
	}
	a.engine.SetUpstream(discipline.UpstreamEstimate{
		OK: ok, OffsetNs: -est.OffsetNs, ErrorNs: est.ErrorNs, AtNs: realNs,
		Stratum: uint8(min(est.Stratum, 16)), RefID: est.RefID,
		RootDelayNs: est.RootDelayNs, RootDispersionNs: est.RootDispersionNs,
		Truechimers: est.Truechimers, Sources: strings.Join(sources, ", "), Silent: silent,
	})
	a.logEngineEvents()
}

// logEngineEvents logs every clock step, state change and engine alarm
// since the last call, with from, to and the reason; they stay in the
// event ring for the console and gpsntpctl.
func (a *appliance) logEngineEvents() {
	for _, ev := range a.engine.Events() {
		switch ev.Kind {
		case discipline.EventStep:
			a.log.Warn("clock stepped", "step_s", float64(ev.StepNs)/1e9,
				"from", fmtServed(ev.BeforeNs), "to", fmtServed(ev.AfterNs), "reason", ev.Reason)
			if a.upstream != nil {
				// Its samples were measured against the clock before.
				a.upstream.Stepped(ev.StepNs)
			}
		case discipline.EventState:
			a.log.Info("state change", "from", ev.From.String(), "to", ev.To.String(), "reason", ev.Reason)
		case discipline.EventAlarm:
			if ev.Raised {
				a.log.Warn("alarm", "alarm", ev.Reason)
			} else {
				a.log.Info("alarm cleared", "alarm", ev.Reason)
			}
		default:
			a.log.Info(ev.String())
		}
	}
}

// refIDText is a Reference's refid as text: ASCII at stratum 1 ("PPS",
// "GPS"), the server's IPv4 address above (RFC 5905 section 7.3), "" when
// unsynchronised.
func refIDText(r *discipline.Reference) string {
	if r.Stratum >= 2 && r.Stratum < 16 {
		return netip.AddrFrom4(r.RefID).String()
	}
	return string(trimNUL(r.RefID[:]))
}

// fmtServed formats a served time (ns since the Unix epoch, UTC).
func fmtServed(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) }

// logClockFailures logs the clock changes the backend could not make since
// the last call (System: clock_adjtime refused without CAP_SYS_TIME, or a
// value out of range; Soft: none) and returns the new count. The log
// throttles repeats.
func logClockFailures(log *slog.Logger, c discipline.Clock, seen uint64) uint64 {
	n, err := c.Failures()
	if n > seen {
		log.Error("the kernel refused to steer the clock", "times", n-seen, "err", err)
	}
	return n
}

// logNiceRefused logs the NTP workers that could not raise their threads'
// priority when they became busy (ntpserve.Stats.BusyNiceRefused, n), as
// they are refused: they keep serving, with stamps less true under load.
func logNiceRefused(log *slog.Logger, n, seen uint64) uint64 {
	if n > seen {
		log.Warn("busy NTP workers could not raise their priority: transmit timestamps under load are less true; "+
			"grant RLIMIT_NICE (systemd LimitNICE=-10) or CAP_SYS_NICE", "workers", n-seen, "nice", ntpserve.DefaultBusyNice)
	}
	return n
}

// statusLine is the one-line status printed each second.
func (a *appliance) statusLine() string {
	st := a.engine.Status()
	r := st.Ref
	refid := refIDText(&r)
	if refid == "" {
		refid = "-"
	}
	ss := a.server.Stats()
	now := time.Unix(0, a.clock.Now()).UTC().Format("2006-01-02T15:04:05.000Z")
	return fmt.Sprintf("%s state=%-8s refid=%-4s offset=%+.3fus jitter=%.3fus freq=%+.3fppm sats=%d/%d served=%d unsync=%d dropped=%d addr=%s",
		now, r.State, refid, r.OffsetNs/1e3, r.JitterNs/1e3, r.FreqPPB/1e3,
		st.LastFix.SatsUsed, st.LastFix.SatsInView, ss.Outcomes[ntpserve.OutReply], ss.Outcomes[ntpserve.OutReplyUnsync],
		ss.Dropped(), a.find.short())
}

func trimNUL(b []byte) []byte {
	for i, c := range b {
		if c == 0 {
			return b[:i]
		}
	}
	return b
}
