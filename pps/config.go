package pps

import (
	"context"
	"time"
)

// Polarity selects which edge of the pulse is the on-time one.
type Polarity uint8

const (
	// Rising: the pulse starts on time (low→high). The default for u-blox,
	// MTK and Quectel receivers.
	Rising Polarity = iota
	// Falling: the pulse ends on time, or an inverting level shifter sits
	// between receiver and pin.
	Falling
)

func (p Polarity) String() string {
	if p == Falling {
		return "falling"
	}
	return "rising"
}

// KernelConfig configures OpenKernel. The zero value captures assert edges
// and waits in PPS_FETCH up to 1 s at a time.
type KernelConfig struct {
	// CaptureClear reports clear edges instead of assert edges. Which
	// electrical edge "assert" is is set by the driver (pps-gpio's
	// assert_falling_edge overlay parameter), not here.
	CaptureClear bool
	// FetchSlice bounds one PPS_FETCH wait (and so how long a cancelled
	// Next or a Close takes). 0 or more than 1 s means 1 s.
	FetchSlice time.Duration
}

// GPIOConfig configures OpenGPIO.
type GPIOConfig struct {
	// Chip is a gpiochip label ("pinctrl-bcm2711", "pinctrl-rp1") or a
	// device path ("/dev/gpiochip0"). Labels are stable across kernels;
	// chip numbers are not (Pi 5's header chip moved from gpiochip4 to
	// gpiochip0 in kernel 6.6.45).
	Chip string
	// Line is the line offset on the chip: the BCM GPIO number on a Pi.
	Line uint32
	// Edge is the on-time edge.
	Edge Polarity
	// Bias: "" leaves it as is, or "pull-down", "pull-up", "disable".
	Bias string
	// Consumer names the requester in gpioinfo; "" means "gpsntp-pps".
	Consumer string
}

// DCDConfig configures OpenDCD.
type DCDConfig struct {
	// Edge is the on-time DCD edge: Rising means carrier asserted.
	Edge Polarity
}

// Compensate returns e with AssertNs moved earlier by latencyNs: latencyNs
// is how late the timestamp is (positive: the kernel stamped the edge after
// it happened, about +11 µs on a Pi 5; see board.Board.PPSOffsetNs).
func (e Edge) Compensate(latencyNs int64) Edge {
	e.AssertNs -= latencyNs
	return e
}

// Compensated wraps src so every edge is Compensate(latencyNs)-ed.
func Compensated(src Source, latencyNs int64) Source {
	if latencyNs == 0 {
		return src
	}
	return compensated{src, latencyNs}
}

type compensated struct {
	Source
	latencyNs int64
}

func (c compensated) Next(ctx context.Context) (Edge, error) {
	e, err := c.Source.Next(ctx)
	if err != nil {
		return e, err
	}
	return e.Compensate(c.latencyNs), nil
}

var (
	_ Source = (*Kernel)(nil)
	_ Source = (*GPIO)(nil)
	_ Source = (*DCD)(nil)
	_ Source = (*Sim)(nil)
)

// LineInfo is what the kernel says of one GPIO line
// (GPIO_V2_GET_LINEINFO_IOCTL): whether it is requested, by whom, with
// which flags. It shows what a running daemon asked for, as gpioinfo would.
type LineInfo struct {
	Chip      string   `json:"chip"`  // device path, /dev/gpiochipN
	Label     string   `json:"label"` // the chip's label
	ChipLines uint32   `json:"chip_lines"`
	Line      uint32   `json:"line"`
	Name      string   `json:"name,omitempty"`     // the line's name from the device tree
	Consumer  string   `json:"consumer,omitempty"` // who requested it ("" if free)
	Flags     []string `json:"flags"`              // enum gpio_v2_line_flag names: "used", "input", "edge-rising", …
}
