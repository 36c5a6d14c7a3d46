package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/gpsntp/gpsntp/board"
)

// gpiotest measures how late the kernel timestamps an edge on the PPS
// input: a jumper wire from an output pin (driven through periph.io's
// gpioioctl) to the PPS pin (read by pps.OpenGPIO, as gpsntpd reads it).
// The Linux part is gpiotest_linux.go; this file is the arithmetic.

func init() {
	commands["gpiotest"] = command{"OUT IN: edge timestamp latency through a jumper from OUT to the PPS pin IN; suggests ppsoffset", runGPIOTest}
}

// latencySample is one edge: CLOCK_REALTIME just before and just after
// the write that raised OUT, and the kernel's timestamp of the edge on IN.
type latencySample struct {
	beforeNs, afterNs, edgeNs int64
}

// latencySummary is the distribution of edge timestamp latency: the
// kernel's stamp minus the middle of the write that made the edge
// (positive: the stamp is late). WriteNs is the median write's length:
// the pin changed somewhere inside it, so it bounds what the figures can
// tell apart.
type latencySummary struct {
	N, Rejected                   int
	MinNs, MedianNs, P99Ns, MaxNs int64
	WriteMedianNs                 int64
	SuggestedPPSOffsetNs          int64 // MedianNs rounded to 100 ns
}

// minSamples is the fewest good samples a suggestion is made from.
const minSamples = 10

// summarize computes the latency distribution. A sample whose edge was
// stamped before the write began (another edge, a clock step) or more
// than a second after it (a lost edge) is rejected and counted.
func summarize(samples []latencySample) (latencySummary, error) {
	var lat, write []int64
	var s latencySummary
	for _, x := range samples {
		mid := x.beforeNs + (x.afterNs-x.beforeNs)/2
		if x.edgeNs < x.beforeNs || x.edgeNs-mid > int64(time.Second) || x.afterNs < x.beforeNs {
			s.Rejected++
			continue
		}
		lat = append(lat, x.edgeNs-mid)
		write = append(write, x.afterNs-x.beforeNs)
	}
	s.N = len(lat)
	if s.N < minSamples {
		return s, fmt.Errorf("only %d good edges of %d (%d rejected): is the jumper on, from OUT to IN?", s.N, len(samples), s.Rejected)
	}
	slices.Sort(lat)
	slices.Sort(write)
	s.MinNs, s.MaxNs = lat[0], lat[len(lat)-1]
	s.MedianNs = rank(lat, 0.5)
	s.P99Ns = rank(lat, 0.99)
	s.WriteMedianNs = rank(write, 0.5)
	s.SuggestedPPSOffsetNs = (s.MedianNs + 50) / 100 * 100
	return s, nil
}

// rank is the nearest-rank percentile q (0–1] of sorted values.
func rank(sorted []int64, q float64) int64 {
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func (s latencySummary) write(w io.Writer) {
	us := func(ns int64) string { return fmt.Sprintf("%.1f µs", float64(ns)/1e3) }
	fmt.Fprintf(w, "edges      %d (%d rejected)\n", s.N, s.Rejected)
	fmt.Fprintf(w, "latency    median %s  p99 %s  max %s  min %s\n", us(s.MedianNs), us(s.P99Ns), us(s.MaxNs), us(s.MinNs))
	fmt.Fprintf(w, "write      median %s (the edge happened within it: the figures are ± half of it)\n", us(s.WriteMedianNs))
	fmt.Fprintf(w, "suggested  ppsoffset %dns\n", s.SuggestedPPSOffsetNs)
}

// gpiotestOptions are the command's arguments.
type gpiotestOptions struct {
	out, in  int
	chip     string
	n        int
	interval time.Duration
}

func parseGPIOTest(args []string, stderr io.Writer) (gpiotestOptions, error) {
	fs := flag.NewFlagSet("gpiotest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := gpiotestOptions{}
	fs.StringVar(&o.chip, "chip", "", "GPIO chip label or /dev/gpiochipN (default: the detected board's)")
	fs.IntVar(&o.n, "n", 200, "edges to time")
	fs.DurationVar(&o.interval, "interval", 20*time.Millisecond, "time between rising edges")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gpsntpctl gpiotest [-n 200] [-interval 20ms] [-chip LABEL] OUT IN\n\n"+
			"Put a jumper wire from OUT to IN (the PPS pin), with gpsntpd stopped or its pps line on another pin.\n"+
			"Pins: 17, GPIO17 or P1_11.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() != 2 {
		fs.Usage()
		return o, errors.New("want two pins: OUT IN")
	}
	var err error
	if o.out, err = board.ParsePin(fs.Arg(0)); err != nil {
		return o, fmt.Errorf("OUT: %w", err)
	}
	if o.in, err = board.ParsePin(fs.Arg(1)); err != nil {
		return o, fmt.Errorf("IN: %w", err)
	}
	if o.out == o.in {
		return o, fmt.Errorf("OUT and IN are both GPIO %d: the jumper goes from one pin to another", o.in)
	}
	if o.n < minSamples || o.interval < time.Millisecond {
		return o, fmt.Errorf("want -n ≥ %d and -interval ≥ 1ms", minSamples)
	}
	return o, nil
}

func runGPIOTest(args []string, stdout, stderr io.Writer) int {
	o, err := parseGPIOTest(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "gpsntpctl gpiotest: %v\n", err)
		return 2
	}
	samples, err := measureGPIO(o, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "gpsntpctl gpiotest: %v\n", err)
		return 1
	}
	s, err := summarize(samples)
	if err != nil {
		fmt.Fprintf(stderr, "gpsntpctl gpiotest: %v\n", err)
		return 1
	}
	s.write(stdout)
	return 0
}
