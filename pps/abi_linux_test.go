//go:build linux && (amd64 || arm64 || arm || 386)

package pps

import (
	"runtime"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestAbiMatchesXSys checks the serial modem ABI for the host architecture:
// the numbers from include/uapi/asm-generic/ioctls.h and termios.h (the same
// on amd64, arm64, arm and 386; not on mips, powerpc, sparc) against
// golang.org/x/sys/unix, which the driver uses, and the layout of
// serial_icounter_struct, which x/sys lacks (abi.go), against the C
// declaration {int cts, dsr, rng, dcd, rx, tx, frame, overrun, parity, brk,
// buf_overrun; int reserved[9];}.
func TestAbiMatchesXSys(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want uint64
	}{
		{"TIOCMIWAIT", unix.TIOCMIWAIT, 0x545C},
		{"TIOCGICOUNT", unix.TIOCGICOUNT, 0x545D},
		{"TIOCMGET", unix.TIOCMGET, 0x5415},
		{"TIOCM_CD", unix.TIOCM_CD, tiocmCD},
		{"sizeof(serial_icounter_struct)", uint64(unsafe.Sizeof(serialIcounter{})), 20 * 4},
		{"offsetof(serial_icounter_struct, dcd)", uint64(unsafe.Offsetof(serialIcounter{}.DCD)), 3 * 4},
	} {
		if c.got != c.want {
			t.Errorf("%s on %s = %#x, want %#x", c.name, runtime.GOARCH, c.got, c.want)
		}
	}
}
