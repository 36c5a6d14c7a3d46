// Package pps captures pulse-per-second edges and checks them. It says when
// a pulse happened on the host clock; which UTC second the pulse marks is
// the discipline's business (pairing with NMEA), not this package's.
//
// Every source delivers [Edge] values through the [Source] interface.
// Timestamps are CLOCK_REALTIME in ns; callers map them through their clock
// backend. After Close, Next returns an error matching os.ErrClosed.
//
// # Drivers (Linux; stubs elsewhere return an error)
//
// [OpenKernel]: the kernel PPS API, /dev/ppsN (Linux ≥ 2.6.34;
// Documentation/driver-api/pps.rst, include/uapi/linux/pps.h). On a Pi the
// device comes from dtoverlay=pps-gpio,gpiopin=N. The edge is stamped in the
// GPIO interrupt handler, so this is the best source: a few µs of latency
// noise, with a constant board-dependent bias (about +11 µs on a Pi 5, see
// board.Board.PPSOffsetNs). The driver checks PPS_GETCAP, sets the mode with
// PPS_SETPARAMS (capture assert, or clear; no echo; no kernel offset — this
// needs CAP_SYS_TIME, and is skipped when the current mode already fits),
// then waits in PPS_FETCH with a timeout. Sequence numbers are the kernel's
// assert (or clear) sequence; edges are deduplicated by it, as chrony's
// refclock_pps.c does. An unregistered device (pps-gpio unbound) leaves the
// descriptor valid and PPS_FETCH timing out for ever: on each timeout the
// driver checks the device's sysfs node is still the one it opened, and
// fails if not, so the caller reopens the new /dev/ppsN. The PPS ioctls are declared with pointer types, so
// their numbers differ between 32- and 64-bit userland. 32-bit ARM userland
// on a 64-bit kernel hits an upstream compat bug (raspberrypi/linux#5430);
// the fetch buffer is laid out to work either way (see putFetch).
//
// [OpenGPIO]: the GPIO character device, uAPI v2 (include/uapi/linux/gpio.h;
// Linux ≥ 5.10, and ≥ 5.11 for GPIO_V2_LINE_FLAG_EVENT_CLOCK_REALTIME, which
// this driver requires: without it event stamps are CLOCK_MONOTONIC). Needs
// no overlay; the kernel stamps edges in the interrupt handler like
// pps-gpio, and queues up to 16 events. Chips are found by label
// (pinctrl-bcm2835 on Pi 3 and Zero 2 W, pinctrl-bcm2711 on Pi 4 and CM4,
// pinctrl-rp1 on Pi 5), never by number. A line already claimed by pps-gpio
// is busy: use /dev/ppsN then. Sequence numbers are the line's line_seqno.
//
// Why our own reader and not periph.io's gpioioctl (host/v3 v3.8.5), which
// the front panel uses for its outputs (package panel): its
// GPIOLine.WaitForEdge reads the same struct gpio_v2_line_event but
// returns only a bool, dropping timestamp_ns, line_seqno and seqno. PPS
// is nothing but that timestamp: taking time.Now() after the wake-up adds
// scheduling latency (tens of µs, milliseconds under load), and without
// the sequence numbers lost or doubled edges cannot be told apart. It
// also never asks for GPIO_V2_LINE_FLAG_EVENT_CLOCK_REALTIME, so even its
// timestamps would be CLOCK_MONOTONIC.
//
// [OpenDCD]: a serial port's DCD pin (TIOCMIWAIT, then CLOCK_REALTIME read in
// user space). For receivers wired to a serial or USB adapter's DCD.
// Scheduling latency adds tens of µs, USB adapters milliseconds. Sequence numbers come from the driver's DCD counter
// (TIOCGICOUNT) when it has one.
//
// [NewSim] and [NewGenerator]: simulated pulses on an
// internal/simtime.Timeline, shared with the simulated receiver, with
// Gaussian jitter, outages and outlier spikes; the generator is pure (no
// sleeping) for accelerated simulations, Sim delivers in real time.
//
// # Checks
//
// [Validator] classifies edges by interval and sequence number (ok, missing
// pulses, period out of range, double edges, duplicates, clock stepped
// back) and counts them; the discipline engine runs it on every edge, and
// its counts reach the status screens as discipline.Status.EdgeChecks.
// Board-specific capture latency is removed by the caller with
// [Edge.Compensate] or [Compensated].
//
// # ABI
//
// Structs and ioctl numbers come from golang.org/x/sys/unix, generated per
// GOARCH from the kernel headers. abi.go keeps only what x/sys lacks (PPS
// mode bits, GPIO v2 line flags, serial_icounter_struct, the compat layout's
// timeout offset), each saying why. abi_test.go checks x/sys against values
// worked out by hand from the C headers for the arch it runs on; vetting
// for GOARCH=arm checks the layout putFetch relies on.
package pps
