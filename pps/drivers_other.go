//go:build !linux

package pps

import (
	"context"
	"errors"
	"runtime"
)

var errNotLinux = errors.New("pps: hardware PPS capture needs Linux (this is " + runtime.GOOS + "); use the simulated source")

// Kernel is the /dev/ppsN source; Linux only.
type Kernel struct{}

// OpenKernel fails on this OS.
func OpenKernel(path string, cfg KernelConfig) (*Kernel, error) { return nil, errNotLinux }

// Caps returns 0.
func (k *Kernel) Caps() int { return 0 }

// Mode returns 0.
func (k *Kernel) Mode() int { return 0 }

// Next fails on this OS.
func (k *Kernel) Next(ctx context.Context) (Edge, error) { return Edge{}, errNotLinux }

// Close does nothing.
func (k *Kernel) Close() error { return nil }

// GPIO is the GPIO character device source; Linux only.
type GPIO struct{}

// OpenGPIO fails on this OS.
func OpenGPIO(cfg GPIOConfig) (*GPIO, error) { return nil, errNotLinux }

// GPIOLineInfo fails on this OS.
func GPIOLineInfo(chip string, line uint32) (LineInfo, error) { return LineInfo{}, errNotLinux }

// Next fails on this OS.
func (g *GPIO) Next(ctx context.Context) (Edge, error) { return Edge{}, errNotLinux }

// Close does nothing.
func (g *GPIO) Close() error { return nil }

// DCD is the serial DCD source; Linux only.
type DCD struct{}

// OpenDCD fails on this OS.
func OpenDCD(path string, cfg DCDConfig) (*DCD, error) { return nil, errNotLinux }

// Next fails on this OS.
func (d *DCD) Next(ctx context.Context) (Edge, error) { return Edge{}, errNotLinux }

// Close does nothing.
func (d *DCD) Close() error { return nil }
