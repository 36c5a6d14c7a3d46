package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gpsntp/gpsntp/config"
)

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

type options struct {
	configPath  string
	checkConfig bool
	sim         bool
	simOffset   time.Duration
	simFreqPPM  float64
	simJitter   time.Duration
	simSeed     int64
	listen      listFlag
	statusEvery time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.configPath, "config", "", "configuration `FILE` (ntp.conf syntax)")
	flag.BoolVar(&o.checkConfig, "check-config", false, "validate the configuration and exit")
	flag.BoolVar(&o.sim, "sim", false, "simulated receiver on a pty + simulated PPS + soft clock")
	flag.DurationVar(&o.simOffset, "sim-offset", 0, "simulated GPS time minus host clock")
	flag.Float64Var(&o.simFreqPPM, "sim-freq-ppm", 0, "rate of change of the simulated offset, ppm")
	flag.DurationVar(&o.simJitter, "sim-jitter", time.Microsecond, "simulated PPS jitter σ")
	flag.Int64Var(&o.simSeed, "sim-seed", 1, "seed of the simulated PPS jitter")
	flag.Var(&o.listen, "listen", "serve NTP on `ADDR` (repeatable; default 127.0.0.1:12300 with -sim, :123 otherwise)")
	flag.DurationVar(&o.statusEvery, "status-interval", time.Second, "status line interval (0: none)")
	flag.Parse()

	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	cfg := config.Defaults()
	if o.configPath != "" {
		c, err := config.Load(o.configPath)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		cfg = c
	}
	if o.checkConfig {
		if _, _, err := accessRules(cfg); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Printf("%s: ok\n", o.configPath)
		return
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, o, cfg, log)
	if err != nil && !errors.Is(err, context.Canceled) {
		log.Error("exiting", "err", err)
		os.Exit(1)
	}
}
