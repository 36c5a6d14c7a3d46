//go:build linux && (amd64 || arm64 || arm)

package pps

import (
	"runtime"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestAbiMatchesXSys cross-checks the hand-written table for the host
// architecture against golang.org/x/sys/unix, which generates its values
// from the kernel headers with the C compiler (a second, independent source).
func TestAbiMatchesXSys(t *testing.T) {
	a, err := abiFor(runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	l, g := a.pps(), a.gpio()
	for _, c := range []struct {
		name      string
		got, want uint64
	}{
		{"PPS_GETPARAMS", uint64(a.ppsGetParams()), unix.PPS_GETPARAMS},
		{"PPS_SETPARAMS", uint64(a.ppsSetParams()), unix.PPS_SETPARAMS},
		{"PPS_GETCAP", uint64(a.ppsGetCap()), unix.PPS_GETCAP},
		{"PPS_FETCH", uint64(a.ppsFetch()), unix.PPS_FETCH},
		{"GPIO_GET_CHIPINFO_IOCTL", uint64(g.chipInfoIoctl), unix.GPIO_GET_CHIPINFO_IOCTL},
		{"GPIO_V2_GET_LINE_IOCTL", uint64(g.getLineIoctl), unix.GPIO_V2_GET_LINE_IOCTL},
		{"sizeof(pps_kinfo)", uint64(l.kinfoSize), uint64(unsafe.Sizeof(unix.PPSKInfo{}))},
		{"sizeof(pps_kparams)", uint64(l.kparamsSize), uint64(unsafe.Sizeof(unix.PPSKParams{}))},
		{"sizeof(pps_fdata)", uint64(l.fdataSize), uint64(unsafe.Sizeof(unix.PPSFData{}))},
		{"offsetof(pps_fdata, timeout)", uint64(l.timeout), uint64(unsafe.Offsetof(unix.PPSFData{}.Timeout))},
		{"sizeof(gpiochip_info)", uint64(g.chipInfoSize), uint64(unsafe.Sizeof(unix.GPIOChipInfo{}))},
		{"sizeof(gpio_v2_line_request)", uint64(g.reqSize), uint64(unsafe.Sizeof(unix.GPIOV2LineRequest{}))},
		{"offsetof(gpio_v2_line_request, fd)", uint64(g.reqFd), uint64(unsafe.Offsetof(unix.GPIOV2LineRequest{}.Fd))},
		{"sizeof(gpio_v2_line_event)", uint64(g.eventSize), uint64(unsafe.Sizeof(unix.GPIOV2LineEvent{}))},
		{"TIOCMIWAIT", tiocmiwait, unix.TIOCMIWAIT},
		{"TIOCGICOUNT", tiocgicount, unix.TIOCGICOUNT},
		{"TIOCM_CD", tiocmCD, unix.TIOCM_CD},
	} {
		if c.got != c.want {
			t.Errorf("%s on %s = %#x, want %#x (x/sys/unix)", c.name, runtime.GOARCH, c.got, c.want)
		}
	}
}
