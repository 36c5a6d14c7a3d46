package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/gpsntp/gpsntp/board"
	"github.com/gpsntp/gpsntp/config"
	"github.com/gpsntp/gpsntp/discipline"
	"github.com/gpsntp/gpsntp/gps"
	"github.com/gpsntp/gpsntp/gps/sim"
	"github.com/gpsntp/gpsntp/internal/ctl"
	"github.com/gpsntp/gpsntp/internal/simtime"
	"github.com/gpsntp/gpsntp/ntpserve"
	"github.com/gpsntp/gpsntp/ntpserve/restrict"
	"github.com/gpsntp/gpsntp/pps"
)

// appliance is everything run wires together.
type appliance struct {
	clock    discipline.Clock
	engine   *discipline.Engine
	receiver *gps.Receiver
	ppsSrc   pps.Source
	server   *ntpserve.Server
}

// daemonEnv is what main gives run beyond options and config: the event
// ring behind the logger, and the reload signal.
type daemonEnv struct {
	events *ctl.EventLog
	hup    <-chan os.Signal
}

func run(ctx context.Context, o options, cfg config.Config, log *slog.Logger, env daemonEnv) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	errc := make(chan error, 8)
	goRun := func(name string, f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil && ctx.Err() == nil {
				errc <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}

	listen := []string(o.listen)
	if len(listen) == 0 {
		listen = cfg.Listen
	}
	if len(listen) == 0 {
		if o.sim {
			listen = []string{"127.0.0.1:12300"}
		} else {
			listen = []string{":123"}
		}
	}

	col := newCollector(time.Now())
	col.clockName = "soft"
	if env.events != nil {
		col.events = env.events.Events
	}
	a := &appliance{clock: discipline.NewSoft(nil)}
	if cfg.Clock == "system" && !o.sim {
		if err := checkClockCapability(); err != nil {
			return err
		}
		// The appliance: we own CLOCK_REALTIME. Needs CAP_SYS_TIME.
		sys, err := discipline.OpenSystem()
		if err != nil {
			return err
		}
		a.clock = sys
		col.clockName = "system"
		log.Info("clock backend", "backend", "system")
	}
	nmeaDelay := cfg.NMEADelay
	gpsDev, baud := cfg.GPS.Device, cfg.GPS.Baud
	var initCmds [][]byte // the receiver profile's commands, sent after each open

	if o.sim {
		tl := simtime.Timeline{StartHostNs: time.Now().UnixNano(), OffsetNs: int64(o.simOffset), FreqPPM: o.simFreqPPM}
		log.Info("simulation", "timeline_start_ns", tl.StartHostNs, "offset", o.simOffset, "freq_ppm", o.simFreqPPM, "pps_jitter", o.simJitter)
		master, slavePath, err := sim.OpenPTY()
		if err != nil {
			return err
		}
		defer master.Close()
		simDelay := 120 * time.Millisecond
		baud = 9600
		gpsDev = slavePath
		rx, err := sim.New(sim.Config{Timeline: tl, Baud: baud, Delay: simDelay, Seed: uint64(o.simSeed), Leap: simLeaps[o.simLeap]}, master)
		if err != nil {
			return err
		}
		goRun("simulated receiver", func() error { return rx.Run(ctx) })
		a.ppsSrc = pps.NewSim(tl, o.simJitter, o.simSeed)
		if nmeaDelay == 0 {
			nmeaDelay = simDelay
		}
	} else {
		bd, rcvProfile, err := profiles(cfg, log)
		if err != nil {
			return err
		}
		if nmeaDelay == 0 {
			nmeaDelay = rcvProfile.NMEADelay
		}
		initCmds = rcvProfile.InitCommands
		src, err := openPPS(cfg, bd)
		if err != nil {
			return err
		}
		a.ppsSrc = src
	}

	col.ppsSource = ppsDescription(cfg.PPS, o.sim)
	col.gpsDevice = gpsDev
	col.nmeaDelayNs = int64(nmeaDelay)
	col.upstreams = cfg.Upstreams
	persist := &persistence{log: log}
	servoCfg, floor := persist.load(cfg, discipline.ServoConfig{StepThresholdNs: float64(cfg.Step)}, buildDate())
	if servoCfg.InitialFreqPPB != 0 {
		a.clock.SetFrequency(servoCfg.InitialFreqPPB)
	}
	var leaps *discipline.LeapTable
	if cfg.LeapFile != "" {
		// A missing or damaged leap file must not stop the clock: without
		// it the receiver's own announcement counts (discipline.Engine).
		lt, err := discipline.LoadLeapFile(cfg.LeapFile)
		switch {
		case err != nil:
			log.Error("leap file unusable: leap seconds come from the receiver only (u-blox UBX-NAV-TIMELS)", "err", err)
		case !lt.Expires.IsZero() && time.Unix(0, a.clock.Now()).After(lt.Expires):
			log.Warn("leap file expired: leap seconds after its expiry come from the receiver only", "path", cfg.LeapFile, "expired", lt.Expires.Format(time.DateOnly))
			leaps = lt
		default:
			leaps = lt
		}
	}
	a.engine = discipline.NewEngine(discipline.Config{
		Clock:         a.clock,
		PPS:           a.ppsSrc != nil,
		NMEADelayNs:   int64(nmeaDelay),
		MaxErrorNs:    int64(cfg.MaxError),
		HoldoverMaxNs: int64(cfg.HoldoverMax),
		Leaps:         leaps,
		Servo:         servoCfg,
	})

	rcv, err := gps.Open(gps.Config{Device: gpsDev, Baud: baud, ReferenceDate: floor, Init: initCmds})
	if err != nil {
		return err
	}
	a.receiver = rcv

	table, discard, err := accessRules(cfg)
	if err != nil {
		return err
	}
	srv, err := ntpserve.New(ntpserve.Config{Listen: listen, Clock: a.clock, Ref: a.engine.Ref(), Restrict: table, Discard: discard})
	if err != nil {
		return err
	}
	a.server = srv
	if !srv.KernelTimestamps() {
		log.Warn("no kernel receive timestamps (SO_TIMESTAMPNS unsupported here): receive times are taken in user space, tens of µs late")
	}
	for _, ad := range srv.Addrs() {
		log.Info("serving NTP", "addr", ad.String())
		col.listen = append(col.listen, ad.String())
	}
	goRun("ntp server", func() error { return srv.Serve(ctx) })

	// Operator interfaces: control socket, metrics, console. Opened before
	// privileges are dropped (the socket lives in /run, the console may be
	// root's); each failing only costs itself, never the time service.
	ctlPath := controlPath(o, cfg)
	if ctlPath != "" {
		ln, err := ctl.Listen(ctlPath)
		if err != nil {
			log.Warn("gpsntpctl disabled", "err", err)
		} else {
			log.Info("control socket", "path", ctlPath)
			goRun("control socket", func() error { return ctl.Serve(ctx, ln, col.get) })
		}
	}
	if cfg.Metrics != "" {
		ml, err := listenMetrics(cfg.Metrics)
		if err != nil {
			return err
		}
		log.Info("serving metrics", "url", "http://"+ml.Addr().String()+"/metrics")
		goRun("metrics", func() error { return serveMetrics(ctx, ml, col.get) })
	}
	con := consoleConfig(o, cfg)
	cons := startConsole(ctx, con, col.get, log)
	defer func() { cons.stop() }()

	// Open the receiver while still root (a device only root may open
	// stays usable); Run reopens it as the user after a loss.
	if err := rcv.Preopen(); err != nil {
		log.Warn("gps: device not open yet, retrying", "err", err)
	}
	if err := dropPrivileges(cfg, o.sim, ctlPath, log); err != nil {
		return err
	}

	fixes := make(chan gps.Fix, 16)
	edges := make(chan pps.Edge, 16)
	goRun("gps", func() error { return rcv.Run(ctx, fixes) })
	if a.ppsSrc != nil {
		defer a.ppsSrc.Close()
		goRun("pps", func() error {
			for {
				e, err := a.ppsSrc.Next(ctx)
				if err != nil {
					return err
				}
				select {
				case edges <- e:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		})
	}

	// The discipline loop: the only goroutine that calls the engine.
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var status <-chan time.Time
	if o.statusEvery > 0 && con.Device != "-" {
		st := time.NewTicker(o.statusEvery)
		defer st.Stop()
		status = st.C
	}
	lastState := discipline.Unsynchronised
	devState := gps.DeviceConnecting
	var clockFailures uint64 // System clock changes the kernel refused, as logged
	col.tick(time.Now().UnixNano(), a)
	for {
		select {
		case <-ctx.Done():
			persist.flush(a.clock.Now(), a.engine.Ref().Load())
			return ctx.Err()
		case err := <-errc:
			persist.flush(a.clock.Now(), a.engine.Ref().Load())
			return err
		case e := <-edges:
			col.edge(e)
			a.engine.Edge(e)
		case f := <-fixes:
			col.fix(f, a.clock)
			a.engine.Fix(f)
		case <-env.hup:
			cons = reload(ctx, o, &cfg, cons, col.get, a.server.SetAccess, log)
		case now := <-tick.C:
			a.engine.Tick(now.UnixNano())
			persist.tick(a.clock.Now(), a.engine.Ref().Load())
			if s := a.engine.Ref().Load().State; s != lastState {
				log.Info("state change", "from", lastState.String(), "to", s.String())
				lastState = s
			}
			devState = logDevice(log, gpsDev, a.receiver.Stats(), devState)
			clockFailures = logClockFailures(log, a.clock, clockFailures)
			col.tick(now.UnixNano(), a)
		case <-status:
			fmt.Fprintln(os.Stdout, a.statusLine())
		}
	}
}

// logClockFailures logs the clock changes the kernel refused since the
// last call (System: clock_adjtime without CAP_SYS_TIME, a value out of
// range) and returns the new count. The log throttles repeats.
func logClockFailures(log *slog.Logger, c discipline.Clock, seen uint64) uint64 {
	f, ok := c.(interface{ Failures() (uint64, error) })
	if !ok {
		return seen
	}
	n, err := f.Failures()
	if n > seen {
		log.Error("the kernel refused to steer the clock", "times", n-seen, "err", err)
	}
	return n
}

// statusLine is the one-line status printed each second.
func (a *appliance) statusLine() string {
	st := a.engine.Status()
	r := st.Ref
	refid := string(trimNUL(r.RefID[:]))
	if refid == "" {
		refid = "-"
	}
	ss := a.server.Stats()
	now := time.Unix(0, a.clock.Now()).UTC().Format("2006-01-02T15:04:05.000Z")
	return fmt.Sprintf("%s state=%-8s refid=%-4s offset=%+.3fus jitter=%.3fus freq=%+.3fppm sats=%d/%d served=%d unsync=%d dropped=%d",
		now, r.State, refid, r.OffsetNs/1e3, r.JitterNs/1e3, r.FreqPPB/1e3,
		st.LastFix.SatsUsed, st.LastFix.SatsInView, ss.Replied, ss.RepliedUnsync,
		ss.Received-ss.Replied-ss.RepliedUnsync-ss.KoD)
}

func trimNUL(b []byte) []byte {
	for i, c := range b {
		if c == 0 {
			return b[:i]
		}
	}
	return b
}

// buildDate is the floor for GPS week-rollover correction: no receiver can
// tell us a time before this binary was built.
func buildDate() time.Time {
	return time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
}

// accessRules turns the config's restrict and discard lines into the
// server's table (nil: no restrict lines, serve everyone, as ntpd).
func accessRules(cfg config.Config) (*restrict.Table, *restrict.Discard, error) {
	var rules []restrict.Rule
	var errs []error
	for _, r := range cfg.Restricts {
		rule, err := restrict.ParseRestrict(r.Args)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: restrict: %w", r.Pos, err))
			continue
		}
		rules = append(rules, rule)
	}
	if len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	var table *restrict.Table
	if len(rules) > 0 {
		table = restrict.NewTable(rules)
	}
	var discard *restrict.Discard
	if cfg.Discard != nil {
		d, err := restrict.ParseDiscard(cfg.Discard)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: discard: %w", cfg.DiscardPos, err)
		}
		discard = &d
	}
	return table, discard, nil
}

// profiles resolves the board (`board auto` reads /proc/device-tree/model)
// and the receiver profile (`gps … receiver NAME`, default generic).
func profiles(cfg config.Config, log *slog.Logger) (board.Board, board.Receiver, error) {
	var bd board.Board
	switch cfg.Board {
	case "auto":
		if model, err := board.ReadModel(); err == nil {
			if b, ok := board.Detect(model); ok {
				bd = b
				log.Info("board detected", "board", b.Name, "model", model)
			} else {
				log.Warn("board not recognised; no board calibration applied", "model", model)
			}
		}
	default:
		b, ok := board.ByName(cfg.Board)
		if !ok {
			return bd, board.Receiver{}, fmt.Errorf("board %s: unknown board (known: %s)", cfg.Board, boardNames())
		}
		bd = b
	}
	name := cfg.GPS.Receiver
	if name == "" {
		name = "generic"
	}
	r, ok := board.ReceiverByName(name)
	if !ok {
		return bd, r, fmt.Errorf("receiver %s: unknown receiver", name)
	}
	return bd, r, nil
}

func boardNames() string {
	var n []string
	for _, b := range board.Boards() {
		n = append(n, b.Name)
	}
	return strings.Join(n, ", ")
}

// openPPS opens the configured PPS source; the board's timestamp latency
// calibration applies unless `ppsoffset` overrides it.
func openPPS(cfg config.Config, bd board.Board) (pps.Source, error) {
	latency := bd.PPSOffsetNs
	if cfg.PPSOffset != 0 {
		latency = int64(cfg.PPSOffset)
	}
	switch cfg.PPS.Kind {
	case "none":
		return nil, nil
	case "kernel":
		k, err := pps.OpenKernel(cfg.PPS.Device, pps.KernelConfig{CaptureClear: cfg.PPS.Falling})
		if err != nil {
			return nil, err
		}
		return pps.Compensated(k, latency), nil
	case "gpio":
		edge := pps.Rising
		if cfg.PPS.Falling {
			edge = pps.Falling
		}
		chip := cfg.PPS.Chip
		if chip == "" {
			chip = bd.GPIOChip
		}
		if chip == "" {
			return nil, fmt.Errorf("pps gpio %d: no board detected to name the GPIO chip; add `chip LABEL` (see gpioinfo)", cfg.PPS.Pin)
		}
		g, err := pps.OpenGPIO(pps.GPIOConfig{Chip: chip, Line: uint32(cfg.PPS.Pin), Edge: edge})
		if err != nil {
			return nil, err
		}
		return pps.Compensated(g, latency), nil
	case "dcd":
		edge := pps.Rising
		if cfg.PPS.Falling {
			edge = pps.Falling
		}
		d, err := pps.OpenDCD(cfg.GPS.Device, pps.DCDConfig{Edge: edge})
		if err != nil {
			return nil, err
		}
		return pps.Compensated(d, latency), nil
	}
	return nil, fmt.Errorf("pps %s: not supported by this build", cfg.PPS.Kind)
}
