package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/gpsntp/gpsntp/board"
	"github.com/gpsntp/gpsntp/panel"
	"github.com/gpsntp/gpsntp/pps"
	"periph.io/x/conn/v3/gpio"
)

// measureGPIO raises OUT o.n times, o.interval apart, and takes each
// edge's kernel timestamp on IN. The clock is read just before and just
// after each write (CLOCK_REALTIME, as the edge stamps).
func measureGPIO(o gpiotestOptions, stderr io.Writer) ([]latencySample, error) {
	chip := o.chip
	if chip == "" {
		m, err := board.ReadMachine(board.DeviceTreeDir)
		if err != nil {
			return nil, err
		}
		b, ok := board.Detect(m.Model)
		if !ok {
			return nil, fmt.Errorf("board %q not known: give -chip LABEL (gpioinfo lists the chips)", m.Model)
		}
		chip = b.GPIOChip
	}
	in, err := pps.OpenGPIO(pps.GPIOConfig{Chip: chip, Line: uint32(o.in), Consumer: "gpsntpctl-gpiotest"})
	if err != nil {
		return nil, fmt.Errorf("IN: %w", err)
	}
	defer in.Close()
	out, c, err := panel.OpenOutput(chip, o.out)
	if err != nil {
		return nil, fmt.Errorf("OUT: %w", err)
	}
	defer c.Close()
	defer out.Out(gpio.Low)
	fmt.Fprintf(stderr, "timing %d edges from GPIO %d to GPIO %d on %s…\n", o.n, o.out, o.in, chip)
	var samples []latencySample
	for range o.n {
		if err := out.Out(gpio.Low); err != nil {
			return nil, fmt.Errorf("OUT: %w", err)
		}
		time.Sleep(o.interval / 2)
		before := time.Now().UnixNano()
		err := out.Out(gpio.High)
		after := time.Now().UnixNano()
		if err != nil {
			return nil, fmt.Errorf("OUT: %w", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		e, err := in.Next(ctx)
		cancel()
		if err != nil {
			// No edge: counted as rejected by summarize.
			samples = append(samples, latencySample{before, after, before - 1})
			continue
		}
		samples = append(samples, latencySample{before, after, e.AssertNs})
		time.Sleep(o.interval / 2)
	}
	return samples, nil
}
