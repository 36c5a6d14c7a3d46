package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/gpsntp/gpsntp/discipline"
)

func init() {
	commands["simulate"] = command{"run the discipline on a simulated oscillator, hours in seconds", runSimulate}
}

// runSimulate is `gpsntpctl simulate [-scenario NAME] [-seed N] [-hours H]`:
// the real Engine and Servo on the Sim oscillator, with simulated PPS and
// NMEA, for each scenario; the RESULT lines come last, one per scenario.
func runSimulate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("scenario", "", "run only this scenario (default: all)")
	seed := fs.Uint64("seed", 1, "random seed")
	hours := fs.Float64("hours", 0, "simulated hours per scenario (default: the scenario's own, 8)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var run []discipline.Scenario
	var names []string
	for _, sc := range discipline.Scenarios() {
		names = append(names, sc.Name)
		if *name == "" || sc.Name == *name {
			run = append(run, sc)
		}
	}
	if len(run) == 0 {
		fmt.Fprintf(stderr, "simulate: unknown scenario %q (known: %s)\n", *name, strings.Join(names, ", "))
		return 2
	}
	var results []discipline.Result
	for _, sc := range run {
		if *hours > 0 {
			sc.Seconds = int64(*hours * 3600)
			if sc.LossS > 0 && sc.LossStartS+sc.LossS+3600 > sc.Seconds {
				fmt.Fprintf(stderr, "simulate: %s needs at least %.1f hours\n", sc.Name, float64(sc.LossStartS+sc.LossS+3600)/3600)
				return 2
			}
		}
		start := time.Now()
		r := discipline.Simulate(sc, *seed)
		fmt.Fprintf(stdout, "%s: %.1f h simulated in %v; %+v\n", sc.Name, float64(sc.Seconds)/3600, time.Since(start).Round(time.Millisecond), r.Counters)
		results = append(results, r)
	}
	for _, r := range results {
		fmt.Fprintln(stdout, r.String())
	}
	return 0
}
