package pps

// The kernel ABI the Linux drivers speak comes from golang.org/x/sys/unix,
// generated per GOARCH from the kernel headers with explicit padding, so
// Go lays its structs out as gcc does (32-bit ARM included, where Go alone
// would align int64 to 4 and EABI gcc aligns it to 8):
//
//	PPS     PPSKParams, PPSFData (PPSKInfo, PPSKTime), PPS_GETCAP,
//	        PPS_GETPARAMS, PPS_SETPARAMS, PPS_FETCH
//	GPIO    GPIOChipInfo, GPIOV2LineRequest, GPIOV2LineEvent,
//	        GPIO_GET_CHIPINFO_IOCTL, GPIO_V2_GET_LINE_IOCTL,
//	        GPIO_V2_LINE_EVENT_RISING_EDGE, _FALLING_EDGE
//	serial  TIOCMGET, TIOCMIWAIT, TIOCGICOUNT, TIOCM_CD
//
// This file keeps only what x/sys (v0.50.0) lacks, each item saying why
// it stays; it is plain data with no build tag because dcd.go's pure part
// (tested on every OS) needs tiocmCD. abi_test.go checks x/sys's values
// against numbers worked out by hand from the C headers.

// PPS mode bits and version (include/uapi/linux/pps.h). Kept: x/sys has
// the PPS structs and ioctls but none of these #defines.
const (
	ppsCaptureAssert = 0x01
	ppsCaptureClear  = 0x02
	ppsOffsetAssert  = 0x10
	ppsOffsetClear   = 0x20
	ppsCanWait       = 0x100
	ppsTSFmtTSpec    = 0x1000
	ppsTimeInvalid   = 1 << 0 // pps_ktime.flags
	ppsAPIVers       = 1
)

// compatTimeout is offsetof(struct pps_fdata_compat, timeout): pps_kinfo_compat
// packs its pps_ktime_compat members at 4-byte alignment, so it is 44 bytes.
// Kept: x/sys describes only the native layout of the binary's own GOARCH,
// and this is the layout a 64-bit kernel reads for a 32-bit binary.
const compatTimeout = 44

// GPIO v2 line flags (enum gpio_v2_line_flag, include/uapi/linux/gpio.h,
// Linux ≥ 5.10). Kept: x/sys has the v2 structs and ioctls but not this
// enum.
const (
	gpioV2LineFlagInput              = 1 << 2
	gpioV2LineFlagEdgeRising         = 1 << 4
	gpioV2LineFlagEdgeFalling        = 1 << 5
	gpioV2LineFlagBiasPullUp         = 1 << 8
	gpioV2LineFlagBiasPullDown       = 1 << 9
	gpioV2LineFlagBiasDisabled       = 1 << 10
	gpioV2LineFlagEventClockRealtime = 1 << 11 // Linux ≥ 5.11
)

// gpioV2FlagNames names the bits of enum gpio_v2_line_flag in bit order,
// as the kernel's gpioinfo spells them, for LineInfo.
var gpioV2FlagNames = [...]string{"used", "active-low", "input", "output",
	"edge-rising", "edge-falling", "open-drain", "open-source",
	"bias-pull-up", "bias-pull-down", "bias-disabled",
	"event-clock-realtime", "event-clock-hte"}

// serialIcounter is struct serial_icounter_struct
// (include/uapi/linux/serial.h), which TIOCGICOUNT fills. Kept: x/sys has
// TIOCGICOUNT but not the struct. Every member is a C int, 32 bits on
// every Linux architecture, so the layout is one everywhere.
type serialIcounter struct {
	CTS, DSR, RNG, DCD     int32
	RX, TX                 int32
	Frame, Overrun, Parity int32
	Brk, BufOverrun        int32
	Reserved               [9]int32
}

// tiocmCD is TIOCM_CAR, carrier detect, in the TIOCMGET status word
// (include/uapi/asm-generic/termios.h; the same on the BSDs). Kept although
// x/sys has unix.TIOCM_CD: dcdWanted (dcd.go) is built and tested on every
// OS, and x/sys/unix does not build on every OS. abi_linux_test.go checks
// it equals unix.TIOCM_CD.
const tiocmCD = 0x040
