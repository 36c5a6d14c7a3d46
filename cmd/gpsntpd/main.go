package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gpsntp/gpsntp/config"
	"github.com/gpsntp/gpsntp/internal/ctl"
)

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// simLeaps are -sim-leap's values: the leap second (+1 inserted, −1
// deleted) the simulated receiver announces for the end of the month.
var simLeaps = map[string]int{"none": 0, "insert": +1, "delete": -1}

type options struct {
	configPath string
	// configFallback is the last good configuration (loadConfig).
	configFallback string
	checkConfig    bool
	sim            bool
	simOffset      time.Duration
	simFreqPPM     float64
	simJitter      time.Duration
	simSeed        int64
	simLeap        string
	simOutage      outage
	simJump        jump
	listen         listFlag
	statusEvery    time.Duration
	console        string
	control        string
	web            string

	// leapfileExtra are leap files that replace `leapfile` when they
	// expire later (-leapfile-extra; appliance.leapTable).
	leapfileExtra []string
}

func main() {
	var o options
	flag.StringVar(&o.configPath, "config", "", "configuration `FILE` (ntp.conf syntax)")
	flag.StringVar(&o.configFallback, "config-fallback", "", "last good configuration `FILE`: run it, with an alarm, when -config does not load or validate; a good -config is copied there")
	flag.BoolVar(&o.checkConfig, "check-config", false, "validate the configuration and exit")
	flag.BoolVar(&o.sim, "sim", false, "simulated receiver on a pty + simulated PPS + soft clock")
	flag.DurationVar(&o.simOffset, "sim-offset", 0, "simulated GPS time minus host clock")
	flag.Float64Var(&o.simFreqPPM, "sim-freq-ppm", 0, "rate of change of the simulated offset, ppm")
	flag.DurationVar(&o.simJitter, "sim-jitter", time.Microsecond, "simulated PPS jitter σ")
	flag.Int64Var(&o.simSeed, "sim-seed", 1, "seed of the simulated PPS jitter")
	flag.StringVar(&o.simLeap, "sim-leap", "none", "the simulated receiver announces a leap second at the end of the month: insert, delete or none")
	flag.Var(&o.simOutage, "sim-outage", "the simulated receiver and PPS go silent `AFTER:DURATION` from the start (e.g. 60s:10m)")
	flag.Var(&o.simJump, "sim-jump", "the simulated receiver labels its seconds wrong by SECONDS from `AFTER:SECONDS` on (e.g. 60s:1: one second late)")
	flag.Func("leapfile-extra", "comma-separated leap-seconds.list `FILES` used instead of `leapfile` when one expires later (gpsntp-boot: the boot partition's and /perm's); missing ones are skipped", func(v string) error {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				o.leapfileExtra = append(o.leapfileExtra, p)
			}
		}
		return nil
	})
	flag.Var(&o.listen, "listen", "serve NTP on `ADDR` (repeatable; default 127.0.0.1:12300 with -sim, :123 otherwise)")
	flag.DurationVar(&o.statusEvery, "status-interval", time.Second, "status line interval (0: none)")
	flag.StringVar(&o.console, "console", "", "live status screen and commands on terminal `DEV` (- : this terminal; overrides `console`)")
	flag.StringVar(&o.control, "control", "", "control socket `PATH` for gpsntpctl (none: off; overrides `control`)")
	flag.StringVar(&o.web, "web", "", "serve the status page on `ADDR:PORT` (off: none; overrides `web`)")
	flag.Parse()
	if o.checkConfig && o.configPath == "" && flag.NArg() == 1 {
		// gpsntpd -check-config FILE
		o.configPath = flag.Arg(0)
	}
	if flag.NArg() > 0 && !(o.checkConfig && flag.NArg() == 1) {
		fmt.Fprintf(os.Stderr, "gpsntpd: unexpected arguments %q\n", flag.Args())
		os.Exit(2)
	}
	if o.web != "" && o.web != "off" {
		if _, _, err := net.SplitHostPort(o.web); err != nil {
			fmt.Fprintf(os.Stderr, "gpsntpd: -web %q: want ADDR:PORT (e.g. 127.0.0.1:8123) or off\n", o.web)
			os.Exit(2)
		}
	}
	if _, ok := simLeaps[o.simLeap]; !ok {
		fmt.Fprintf(os.Stderr, "gpsntpd: -sim-leap %q: want insert, delete or none\n", o.simLeap)
		os.Exit(2)
	}

	if o.checkConfig && o.configPath == "" {
		fmt.Fprintln(os.Stderr, "gpsntpd: -check-config: no configuration file to check (gpsntpd -check-config FILE)")
		os.Exit(2)
	}
	cfg := config.Defaults()
	var configAlarm, lastGoodErr string
	if o.checkConfig {
		c, err := config.Load(o.configPath)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		cfg = c
	} else if o.configPath != "" {
		c, alarm, err := loadConfig(o.configPath, o.configFallback)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		cfg, configAlarm = c, alarm
		if o.configFallback != "" && alarm == "" {
			if err := saveLastGood(o.configPath, o.configFallback); err != nil {
				lastGoodErr = err.Error()
			}
		}
	}
	if o.checkConfig {
		// Everything that would fail, here or at the first drift write;
		// warnings for what may be different on the target machine.
		err := validate(cfg)
		for _, w := range validateWarnings(cfg) {
			fmt.Fprintln(os.Stderr, "warning:", w)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Printf("%s: ok\n", o.configPath)
		return
	}
	// At start only what would fail now is fatal: a state directory made
	// later (first boot, a .deb before its postinst) is worth a warning.
	if err := validateConfig(cfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}

	// Logs: stderr, through the event ring (the console's and gpsntpctl's
	// log view), repeats within a minute throttled. On the terminal's own
	// console the screen shows the events; stderr lines would tear it.
	var out io.Writer = os.Stderr
	if consoleConfig(o, cfg).Device == "-" && ctl.IsTerminal(2) {
		out = io.Discard
	}
	events := ctl.NewEventLog(slog.NewTextHandler(out, nil), 64, time.Minute)
	log := slog.New(events)

	if lastGoodErr != "" {
		log.Warn("configuration: running it, but could not keep a copy as the last good one", "err", lastGoodErr)
	}
	if err := validateStateDirs(cfg); err != nil {
		for _, l := range strings.Split(err.Error(), "\n") {
			log.Warn("configuration: state will not be saved", "err", l)
		}
	}
	if !o.sim {
		for _, w := range validateWarnings(cfg) {
			log.Warn("configuration: " + w)
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	if err := run(ctx, o, cfg, log, daemonEnv{events: events, hup: hup, configAlarm: configAlarm}); err != nil {
		log.Error("exiting", "err", err)
		os.Exit(1)
	}
}

// run opens the appliance, runs it until ctx is done or a part of it
// fails, and closes it. nil: stopped by ctx.
func run(ctx context.Context, o options, cfg config.Config, log *slog.Logger, env daemonEnv) error {
	a, err := openAppliance(o, cfg, log, env)
	if err != nil {
		return err
	}
	err = a.Run(ctx)
	if cerr := a.Close(); cerr != nil {
		log.Warn("closing", "err", cerr)
	}
	return err
}

// outage is -sim-outage AFTER:DURATION.
type outage struct{ after, length time.Duration }

func (o *outage) String() string {
	if o.length == 0 {
		return ""
	}
	return o.after.String() + ":" + o.length.String()
}

func (o *outage) Set(s string) error {
	a, l, ok := strings.Cut(s, ":")
	after, err1 := time.ParseDuration(a)
	length, err2 := time.ParseDuration(l)
	if !ok || err1 != nil || err2 != nil || after < 0 || length < time.Second {
		return fmt.Errorf("want AFTER:DURATION, e.g. 60s:10m (DURATION at least 1s), got %q", s)
	}
	o.after, o.length = after, length
	return nil
}

// jump is -sim-jump AFTER:SECONDS.
type jump struct {
	after   time.Duration
	seconds int64
}

func (j *jump) String() string {
	if j.seconds == 0 {
		return ""
	}
	return fmt.Sprintf("%v:%d", j.after, j.seconds)
}

func (j *jump) Set(s string) error {
	a, n, ok := strings.Cut(s, ":")
	after, err1 := time.ParseDuration(a)
	secs, err2 := strconv.ParseInt(n, 10, 64)
	if !ok || err1 != nil || err2 != nil || after < 0 || secs == 0 {
		return fmt.Errorf("want AFTER:SECONDS, e.g. 60s:1 (SECONDS not 0), got %q", s)
	}
	j.after, j.seconds = after, secs
	return nil
}
