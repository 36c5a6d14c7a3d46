package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gpsntp/gpsntp/board"
	"github.com/gpsntp/gpsntp/config"
	"github.com/gpsntp/gpsntp/discipline"
	"github.com/gpsntp/gpsntp/gps"
	"github.com/gpsntp/gpsntp/gps/sim"
	"github.com/gpsntp/gpsntp/internal/ctl"
	"github.com/gpsntp/gpsntp/internal/simtime"
	"github.com/gpsntp/gpsntp/ntpserve"
	"github.com/gpsntp/gpsntp/panel"
	"github.com/gpsntp/gpsntp/pps"
	"github.com/gpsntp/gpsntp/upstream"
)

// appliance is the daemon's parts: openAppliance opens all of them (as
// root, before the privilege drop) or none, Run runs them under
// supervision, Close releases them.
type appliance struct {
	o   options
	cfg config.Config
	log *slog.Logger
	env daemonEnv

	clock    discipline.Clock
	engine   *discipline.Engine
	receiver *gps.Receiver
	// gpsCfg and nmeaDelay are the receiver's device and calibration, as
	// openSources resolved them.
	gpsCfg    gps.Config
	nmeaDelay time.Duration
	// ppsSrc feeds the engine (nil: `pps none`); ppsDev is the same
	// source when it is a device, retried while missing (nil with -sim).
	ppsSrc pps.Source
	ppsDev *pps.Reopening
	// simTimeline is the simulated GPS time (-sim).
	simTimeline simtime.Timeline
	server      *ntpserve.Server
	persist     *persistence
	col         *collector
	find        *finder      // where the board is: addresses and mDNS (find.go)
	panel       *panel.Panel // the front panel's LED and display (nil: none)
	// upstream queries the `server`/`pool` lines (nil: none configured);
	// upKey is its last estimate passed to the engine (feedUpstream).
	upstream *upstream.Client
	upKey    string
	ctlPath  string
	// consoleDev is the console's terminal, opened before the privilege
	// drop (a serial port is root's or dialout's); Run hands it to the
	// console, which reopens it by name only after a failure.
	consoleDev *os.File
	// webDown is the "web" alarm's text while the status page cannot be
	// served (web.go), nil otherwise.
	webDown atomic.Pointer[string]

	// tasks run for the daemon's lifetime (Run); any that ends before the
	// daemon stops is a failure that stops it.
	tasks []task
	// closers release what was opened, in reverse order (Close).
	closers []func() error
}

// task is a component's run function, named for the logs.
type task struct {
	name string
	run  func(ctx context.Context) error
}

// daemonEnv is what main gives the appliance beyond options and config:
// the event ring behind the logger, and the reload signal.
type daemonEnv struct {
	events *ctl.EventLog
	hup    <-chan os.Signal
	// configAlarm says the configuration file was rejected and the last
	// good one runs instead (loadConfig); "" when all is well.
	configAlarm string
}

// openAppliance opens everything the configuration names, in data-flow
// order, and drops privileges. On failure it closes what it opened.
func openAppliance(o options, cfg config.Config, log *slog.Logger, env daemonEnv) (a *appliance, err error) {
	a = &appliance{o: o, cfg: cfg, log: log, env: env, col: newCollector(time.Now(), log)}
	defer func() {
		if err != nil {
			a.Close()
			a = nil
		}
	}()
	if env.events != nil {
		a.col.events = env.events.Events
	}
	for _, step := range []func() error{a.openClock, a.openSources, a.openEngine, a.openServer, a.openOperator, a.openWeb, a.openFinder, a.openPanel, a.dropPrivileges} {
		if err := step(); err != nil {
			return a, err
		}
	}
	return a, nil
}

// Close releases everything opened, last opened first.
func (a *appliance) Close() error {
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		if err := a.closers[i](); err != nil {
			errs = append(errs, err)
		}
	}
	a.closers = nil
	return errors.Join(errs...)
}

func (a *appliance) onClose(f func() error) { a.closers = append(a.closers, f) }

// openClock chooses the clock backend: the System clock (CLOCK_REALTIME,
// needs CAP_SYS_TIME) on the appliance, the Soft clock otherwise.
func (a *appliance) openClock() error {
	a.clock = discipline.NewSoft(nil)
	a.col.clockName = "soft"
	if a.cfg.Clock != config.ClockSystem || a.o.sim {
		return nil
	}
	if err := checkClockCapability(); err != nil {
		return err
	}
	sys, err := discipline.OpenSystem()
	if err != nil {
		return err
	}
	a.clock = sys
	a.col.clockName = "system"
	a.log.Info("clock backend", "backend", "system")
	return nil
}

// openSources sets up the receiver and the PPS source: simulated ones on a
// pty with -sim, else the configured devices with the board's and the
// receiver profile's calibration. A PPS device that cannot be opened yet
// is not fatal: it is retried while the daemon serves NMEA time.
func (a *appliance) openSources() error {
	a.nmeaDelay = a.cfg.NMEADelay
	a.gpsCfg = gps.Config{Device: a.cfg.GPS.Device, Baud: a.cfg.GPS.Baud}
	ppsCfg := a.cfg.PPS // with `pps gpio auto` resolved, for status
	if a.o.sim {
		tl := simtime.Timeline{StartHostNs: time.Now().UnixNano(), OffsetNs: int64(a.o.simOffset), FreqPPM: a.o.simFreqPPM}
		a.simTimeline = tl
		a.log.Info("simulation", "timeline_start_ns", tl.StartHostNs, "offset", a.o.simOffset, "freq_ppm", a.o.simFreqPPM, "pps_jitter", a.o.simJitter)
		master, slavePath, err := sim.OpenPTY()
		if err != nil {
			return err
		}
		a.onClose(master.Close)
		simDelay := 120 * time.Millisecond
		a.gpsCfg.Device, a.gpsCfg.Baud = slavePath, 9600
		// -sim-outage: receiver and PPS silent for those GPS seconds.
		var silent func(gpsSecond int64) bool
		if o := a.o.simOutage; o.length > 0 {
			from := tl.GPSAt(tl.StartHostNs+int64(o.after)) / 1e9
			to := from + int64(o.length/time.Second)
			silent = func(n int64) bool { return n >= from && n < to }
			a.log.Info("simulated outage", "after", o.after, "for", o.length)
		}
		// -sim-jump: the receiver labels its seconds wrong from then on.
		var shift func(gpsSecond int64) int64
		if j := a.o.simJump; j.seconds != 0 {
			from := tl.GPSAt(tl.StartHostNs+int64(j.after)) / 1e9
			shift = func(n int64) int64 {
				if n >= from {
					return j.seconds
				}
				return 0
			}
			a.log.Info("simulated time jump", "after", j.after, "seconds", j.seconds)
		}
		rx, err := sim.New(sim.Config{Timeline: tl, Baud: a.gpsCfg.Baud, Delay: simDelay, Seed: uint64(a.o.simSeed), Leap: simLeaps[a.o.simLeap], Silent: silent, Shift: shift}, master)
		if err != nil {
			return err
		}
		a.tasks = append(a.tasks, task{"simulated receiver", rx.Run})
		var simOpts []pps.SimOption
		if silent != nil {
			simOpts = append(simOpts, pps.SimMissing(silent))
		}
		a.ppsSrc = pps.NewSim(tl, a.o.simJitter, a.o.simSeed, simOpts...)
		a.onClose(a.ppsSrc.Close)
		if a.nmeaDelay == 0 {
			a.nmeaDelay = simDelay
		}
	} else {
		bd, rcvProfile, err := profiles(a.cfg, a.log)
		if err != nil {
			return err
		}
		// `gps auto`, `pps gpio auto`: the board's (and HAT's) choices.
		a.gpsCfg.Device = hardware{board: bd}.gpsDevice(a.cfg)
		if ppsCfg.Pin == config.PinAuto && bd.PPSPin != 0 {
			ppsCfg.Pin = int(bd.PPSPin)
		}
		if a.nmeaDelay == 0 {
			a.nmeaDelay = rcvProfile.NMEADelay
		}
		a.gpsCfg.Init = rcvProfile.InitCommands
		if a.cfg.PPS.Kind != config.PPSNone {
			open, err := ppsOpener(a.cfg, bd)
			if err != nil {
				return err
			}
			a.ppsDev = pps.NewReopening(open, time.Second, 30*time.Second)
			a.ppsSrc = a.ppsDev
			a.onClose(a.ppsDev.Close)
			// Open while still root; missing now is retried (Run).
			if err := a.ppsDev.TryOpen(); err != nil {
				a.log.Warn("PPS device not available yet; serving NMEA time until it is", "pps", ppsDescription(ppsCfg, false), "err", err)
			}
		}
	}
	a.col.ppsSource = ppsDescription(ppsCfg, a.o.sim)
	a.col.gpsDevice = a.gpsCfg.Device
	a.col.configAlarm = a.env.configAlarm
	return nil
}

// openEngine restores what persisted (drift, last known time), then sets
// up the receiver's decoder and the discipline engine.
func (a *appliance) openEngine() error {
	a.persist = &persistence{log: a.log}
	servoCfg, floor := a.persist.load(a.cfg, discipline.ServoConfig{StepThresholdNs: float64(a.cfg.Step)}, buildDate())
	if servoCfg.InitialFreqPPB != 0 {
		a.clock.SetFrequency(servoCfg.InitialFreqPPB)
	}
	a.gpsCfg.ReferenceDate = floor
	rcv, err := gps.Open(a.gpsCfg)
	if err != nil {
		return err
	}
	a.receiver = rcv
	a.engine = discipline.NewEngine(discipline.Config{
		Clock:         a.clock,
		PPS:           a.ppsSrc != nil,
		NMEADelayNs:   int64(a.nmeaDelay),
		MaxErrorNs:    int64(a.cfg.MaxError),
		HoldoverMaxNs: int64(a.cfg.HoldoverMax),
		StepOutNs:     int64(a.cfg.StepOut),
		PanicNs:       int64(a.cfg.Panic),
		Leaps:         a.leapTable(),
		Servo:         servoCfg,
		Upstreams:     len(a.cfg.Upstreams) > 0,
		Fallback:      a.cfg.Fallback,
	})
	if len(a.cfg.Upstreams) > 0 {
		c, err := upstream.New(upstream.Config{Sources: a.cfg.Upstreams, MinSane: a.cfg.MinSane, Slews: a.engine}, a.clock, a.log)
		if err != nil {
			return err
		}
		a.upstream = c
		a.onClose(c.Close)
		a.tasks = append(a.tasks, task{"upstream servers", c.Run})
	}
	return nil
}

// leapTable chooses and loads the leap file: `leapfile`, or one of
// -leapfile-extra that expires later (on the appliance, a newer file put
// on the boot partition or in /perm: the image's own cannot be updated).
// A missing or damaged one must not stop the clock: without one the
// receiver's own announcement counts (discipline.Engine). Its expiry is
// an alarm from leapWarnBefore on (collector).
func (a *appliance) leapTable() *discipline.LeapTable {
	var paths []string
	if a.cfg.LeapFile != "" {
		paths = append(paths, a.cfg.LeapFile) // first: it wins a tie
	}
	for _, p := range a.o.leapfileExtra {
		if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
			continue // none put there: the usual case
		}
		paths = append(paths, p)
	}
	// Words chosen so that the built-in file's alarm fits the console's
	// three alarm lines (TestLeapFileAlarm).
	a.col.leapAdvice = "upgrade tzdata or replace the file, then restart gpsntpd"
	if len(a.o.leapfileExtra) > 0 {
		// gpsntp-boot: the appliance, whose own file is in the image.
		a.col.leapAdvice = "reboot with a newer one on the boot partition (tzdata or " + leapFileURL + ")"
	}
	if len(paths) == 0 {
		return nil
	}
	path, lt, rejected := discipline.ChooseLeapFile(paths)
	if lt == nil {
		var why []string
		for _, err := range rejected {
			why = append(why, err.Error())
		}
		a.log.Error("leap file unusable: leap seconds come from the receiver only (u-blox UBX-NAV-TIMELS)", "err", strings.Join(why, "; "))
		return nil
	}
	for _, err := range rejected {
		a.log.Warn("leap file skipped", "err", err)
	}
	expires := "none named"
	if !lt.Expires.IsZero() {
		expires = lt.Expires.Format(time.DateOnly)
	}
	a.log.Info("leap file", "path", path, "expires", expires)
	a.col.leapFile = &ctl.LeapFileStatus{Path: path, Expires: lt.Expires}
	return lt
}

// openServer binds the NTP sockets.
func (a *appliance) openServer() error {
	table, discard, err := accessRules(a.cfg)
	if err != nil {
		return err
	}
	srv, err := ntpserve.New(ntpserve.Config{Listen: listenAddrs(a.o, a.cfg), Clock: a.clock, Ref: a.engine.Ref(), Restrict: table, Discard: discard,
		Control: controlSource(a.col.get)})
	if err != nil {
		return err
	}
	a.server = srv
	a.onClose(srv.Close)
	if !srv.KernelTimestamps() {
		a.log.Warn("no kernel receive timestamps (SO_TIMESTAMPNS unsupported here): receive times are taken in user space, tens of µs late")
	}
	for _, ad := range srv.Addrs() {
		a.log.Info("serving NTP", "addr", ad.String())
		a.col.listen = append(a.col.listen, ad.String())
	}
	a.tasks = append(a.tasks, task{"ntp server", srv.Serve})
	return nil
}

// listenAddrs: -listen, else `listen`/`interface`, else the default.
func listenAddrs(o options, cfg config.Config) []string {
	switch {
	case len(o.listen) > 0:
		return o.listen
	case len(cfg.Listen) > 0:
		return cfg.Listen
	case o.sim:
		return []string{"127.0.0.1:12300"}
	}
	return []string{":123"}
}

// openOperator opens the control socket and the metrics listener, before
// privileges are dropped (the socket lives in /run, the port may be low).
// A control socket that cannot be had costs only gpsntpctl; a metrics
// port that is taken is fatal: the operator asked for it, and a daemon
// that silently lacks it would go unmonitored.
func (a *appliance) openOperator() error {
	if con := consoleConfig(a.o, a.cfg); con.Device != "" && con.Device != "-" {
		f, err := openConsoleDevice(con.Device)
		if err != nil {
			// Not fatal: the console retries, as it does after a loss.
			a.log.Warn("console not open yet", "device", con.Device, "err", err)
		} else {
			a.consoleDev = f
			a.onClose(func() error {
				if a.consoleDev != nil {
					return a.consoleDev.Close()
				}
				return nil
			})
		}
	}
	a.ctlPath = controlPath(a.o, a.cfg)
	if a.ctlPath != "" {
		ln, err := ctl.ListenGroup(a.ctlPath, controlGroup(a.cfg, a.o.sim))
		if err != nil {
			a.log.Warn("gpsntpctl disabled", "err", err)
			a.ctlPath = ""
		} else {
			a.log.Info("control socket", "path", a.ctlPath)
			a.onClose(ignoreClosed(ln))
			a.tasks = append(a.tasks, task{"control socket", func(ctx context.Context) error { return ctl.Serve(ctx, ln, a.col.get) }})
		}
	}
	if a.cfg.Metrics != "" {
		ml, err := listenMetrics(a.cfg.Metrics)
		if err != nil {
			return err
		}
		a.onClose(ignoreClosed(ml))
		a.log.Info("serving metrics", "url", "http://"+ml.Addr().String()+"/metrics")
		a.tasks = append(a.tasks, task{"metrics", func(ctx context.Context) error { return serveMetrics(ctx, ml, a.col.get) }})
	}
	return nil
}

// openFinder shows where the board is: its addresses, and with `mdns on`
// its mDNS name (find.go). Never fatal.
func (a *appliance) openFinder() error {
	a.find = openFinder(a.cfg, a.col.listen, a.log)
	a.onClose(a.find.Close)
	a.tasks = append(a.tasks, a.find.tasks()...)
	return nil
}

// openPanel opens the front panel's LED and display (`led`, `display`),
// as root before the privilege drop. Never fatal: missing hardware is an
// alarm (status.go), looked for again by the panel.
func (a *appliance) openPanel() error {
	if a.cfg.LED.Kind == config.LEDNone && a.cfg.Display.Model == "" {
		return nil
	}
	chip := ""
	if hw, err := detectHardware(a.cfg, board.DeviceTreeDir); err == nil {
		chip = hw.board.GPIOChip
	}
	p, err := panel.Open(panel.Config{LED: a.cfg.LED, Display: a.cfg.Display, Chip: chip}, a.log)
	if err != nil {
		return err
	}
	a.panel = p
	a.onClose(p.Close)
	a.tasks = append(a.tasks, task{"front panel", func(ctx context.Context) error { return p.Run(ctx, a.col.get) }})
	return nil
}

// ignoreClosed closes a listener that its server may have closed already.
func ignoreClosed(ln net.Listener) func() error {
	return func() error {
		if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			return err
		}
		return nil
	}
}

// dropPrivileges opens the receiver while still root (a device only root
// may open stays usable; Run reopens it as the user after a loss), then
// becomes the configured user.
func (a *appliance) dropPrivileges() error {
	if err := a.receiver.Preopen(); err != nil {
		a.log.Warn("gps: device not open yet, retrying", "err", err)
	}
	if err := dropPrivileges(a.cfg, a.o.sim, a.log); err != nil {
		return err
	}
	return nil
}

// errComponentStopped is the failure of a component that returned while
// the daemon was running.
var errComponentStopped = fmt.Errorf("stopped unexpectedly")
