//go:build linux

package pps

import (
	"encoding/binary"
	"runtime"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The drivers take their structs and ioctl numbers from golang.org/x/sys/unix
// (see abi.go). The expected values below are worked out by hand from the C
// declarations, not taken from x/sys, and checked against x/sys for the
// GOARCH the test runs on:
//
//	_IOC(dir,type,nr,size) = dir<<30 | size<<16 | type<<8 | nr   (asm-generic/ioctl.h)
//	PPS_GETPARAMS = _IOR('p', 0xa1, struct pps_kparams *)  → size = sizeof(void *)
//	PPS_FETCH     = _IOWR('p', 0xa4, struct pps_fdata *)
//	GPIO_GET_CHIPINFO_IOCTL = _IOR(0xB4, 0x01, struct gpiochip_info)        size 68 = 0x44
//	GPIO_V2_GET_LINE_IOCTL  = _IOWR(0xB4, 0x07, struct gpio_v2_line_request) size 592 = 0x250
//
// pps_kinfo: u32 assert_sequence @0, u32 clear_sequence @4, pps_ktime
// assert_tu @8 (16 bytes; s64 aligned 8 on all three, ARM EABI included),
// clear_tu @24, int current_mode @40, size 44 padded to 48. pps_kparams: int
// @0, int @4, assert_off_tu @8, clear_off_tu @24, size 40. pps_fdata: info @0
// (48), timeout @48, size 64. (On i386, s64 is 4-aligned and pps_kinfo is 44:
// that is the "compat" layout.)
var abiWant = []struct {
	arch                                string
	getParams, setParams, getCap, fetch uint32
	chipInfo, getLine                   uint32
}{
	{"amd64", 0x800870a1, 0x400870a2, 0x800870a3, 0xc00870a4, 0x8044b401, 0xc250b407},
	{"arm64", 0x800870a1, 0x400870a2, 0x800870a3, 0xc00870a4, 0x8044b401, 0xc250b407},
	{"arm", 0x800470a1, 0x400470a2, 0x800470a3, 0xc00470a4, 0x8044b401, 0xc250b407},
	{"386", 0x800470a1, 0x400470a2, 0x800470a3, 0xc00470a4, 0x8044b401, 0xc250b407},
}

// putFetch's second view (dualFetch, 32-bit ARM) needs the EABI layout of
// pps_fdata: timeout at 48, after four bytes of padding at compatTimeout.
// Checked when the tests are compiled, so `GOARCH=arm go vet` fails if
// x/sys ever says otherwise: a map literal may not repeat a key.
var _ = map[bool]int{false: 0, !dualFetch || unsafe.Offsetof(unix.PPSFData{}.Timeout) == compatTimeout+4: 1}

func TestIoctlNumbers(t *testing.T) {
	for _, w := range abiWant {
		if w.arch != runtime.GOARCH {
			continue
		}
		for _, c := range []struct {
			name      string
			got, want uint32
		}{
			{"PPS_GETPARAMS", unix.PPS_GETPARAMS, w.getParams},
			{"PPS_SETPARAMS", unix.PPS_SETPARAMS, w.setParams},
			{"PPS_GETCAP", unix.PPS_GETCAP, w.getCap},
			{"PPS_FETCH", unix.PPS_FETCH, w.fetch},
			{"GPIO_GET_CHIPINFO_IOCTL", unix.GPIO_GET_CHIPINFO_IOCTL, w.chipInfo},
			{"GPIO_V2_GET_LINE_IOCTL", unix.GPIO_V2_GET_LINE_IOCTL, w.getLine},
		} {
			if c.got != c.want {
				t.Errorf("%s on %s = %#x (x/sys), want %#x", c.name, w.arch, c.got, c.want)
			}
		}
		return
	}
	t.Skipf("no hand-worked ioctl numbers for GOARCH=%s", runtime.GOARCH)
}

// ppsLayout holds sizes and offsets of the PPS structs.
type ppsLayout struct {
	ktimeSize   uintptr // struct pps_ktime {__s64 sec; __s32 nsec; __u32 flags;}
	kinfoSize   uintptr // struct pps_kinfo
	assertTu    uintptr // offsetof(pps_kinfo, assert_tu)
	clearTu     uintptr // offsetof(pps_kinfo, clear_tu)
	currentMode uintptr // offsetof(pps_kinfo, current_mode)
	kparamsSize uintptr // struct pps_kparams
	assertOff   uintptr // offsetof(pps_kparams, assert_off_tu)
	clearOff    uintptr // offsetof(pps_kparams, clear_off_tu)
	fdataSize   uintptr // struct pps_fdata
	timeout     uintptr // offsetof(pps_fdata, timeout)
}

func TestPPSLayout(t *testing.T) {
	var fd unix.PPSFData
	var kp unix.PPSKParams
	got := ppsLayout{
		ktimeSize: unsafe.Sizeof(fd.Timeout), kinfoSize: unsafe.Sizeof(fd.Info),
		assertTu: unsafe.Offsetof(fd.Info.Assert_tu), clearTu: unsafe.Offsetof(fd.Info.Clear_tu),
		currentMode: unsafe.Offsetof(fd.Info.Current_mode),
		kparamsSize: unsafe.Sizeof(kp), assertOff: unsafe.Offsetof(kp.Assert_off_tu),
		clearOff:  unsafe.Offsetof(kp.Clear_off_tu),
		fdataSize: unsafe.Sizeof(fd), timeout: unsafe.Offsetof(fd.Timeout),
	}
	want := ppsLayout{
		ktimeSize: 16, kinfoSize: 48, assertTu: 8, clearTu: 24, currentMode: 40,
		kparamsSize: 40, assertOff: 8, clearOff: 24, fdataSize: 64, timeout: 48,
	}
	switch runtime.GOARCH {
	case "amd64", "arm64", "arm":
		if got != want {
			t.Errorf("%s: pps layout = %+v (x/sys), want %+v", runtime.GOARCH, got, want)
		}
	case "386":
		// 4-byte s64 alignment gives the i386 (= compat) layout, which is
		// what pps_fdata_compat describes: timeout at 44.
		if got.kinfoSize != 44 || got.timeout != compatTimeout || got.fdataSize != 60 {
			t.Errorf("i386 layout = %+v (x/sys), want kinfo 44, timeout %d, fdata 60", got, compatTimeout)
		}
	default:
		t.Skipf("no hand-worked PPS layout for GOARCH=%s", runtime.GOARCH)
	}
}

// gpioLayout holds sizes and offsets of the GPIO v2 structs. They were
// designed with explicit padding and __aligned_u64 so that they have one
// layout on every architecture; the test says so rather than assumes it.
type gpioLayout struct {
	chipInfoSize  uintptr // struct gpiochip_info {char name[32]; char label[32]; __u32 lines;}
	chipLabel     uintptr
	chipLines     uintptr
	lineAttrSize  uintptr // struct gpio_v2_line_attribute
	cfgAttrSize   uintptr // struct gpio_v2_line_config_attribute
	lineCfgSize   uintptr // struct gpio_v2_line_config
	cfgNumAttrs   uintptr
	reqSize       uintptr // struct gpio_v2_line_request
	reqConsumer   uintptr
	reqConfig     uintptr
	reqNumLines   uintptr
	reqEventBuf   uintptr
	reqFd         uintptr
	eventSize     uintptr // struct gpio_v2_line_event
	evID          uintptr
	evOffset      uintptr
	evSeqno       uintptr
	evLineSeqno   uintptr
	chipInfoIoctl uint32
	getLineIoctl  uint32
}

func TestGPIOLayout(t *testing.T) {
	var (
		ci  unix.GPIOChipInfo
		req unix.GPIOV2LineRequest
		ev  unix.GPIOV2LineEvent
	)
	got := gpioLayout{
		chipInfoSize: unsafe.Sizeof(ci), chipLabel: unsafe.Offsetof(ci.Label), chipLines: unsafe.Offsetof(ci.Lines),
		lineAttrSize: unsafe.Sizeof(unix.GPIOV2LineAttribute{}), cfgAttrSize: unsafe.Sizeof(unix.GPIOV2LineConfigAttribute{}),
		lineCfgSize: unsafe.Sizeof(req.Config), cfgNumAttrs: unsafe.Offsetof(req.Config.Num_attrs),
		reqSize: unsafe.Sizeof(req), reqConsumer: unsafe.Offsetof(req.Consumer), reqConfig: unsafe.Offsetof(req.Config),
		reqNumLines: unsafe.Offsetof(req.Num_lines), reqEventBuf: unsafe.Offsetof(req.Event_buffer_size),
		reqFd:     unsafe.Offsetof(req.Fd),
		eventSize: unsafe.Sizeof(ev), evID: unsafe.Offsetof(ev.Id), evOffset: unsafe.Offsetof(ev.Offset),
		evSeqno: unsafe.Offsetof(ev.Seqno), evLineSeqno: unsafe.Offsetof(ev.Line_seqno),
		chipInfoIoctl: unix.GPIO_GET_CHIPINFO_IOCTL, getLineIoctl: unix.GPIO_V2_GET_LINE_IOCTL,
	}
	want := gpioLayout{
		chipInfoSize: 68, chipLabel: 32, chipLines: 64,
		lineAttrSize: 16, cfgAttrSize: 24, lineCfgSize: 272, cfgNumAttrs: 8,
		reqSize: 592, reqConsumer: 256, reqConfig: 288, reqNumLines: 560, reqEventBuf: 564, reqFd: 588,
		eventSize: 48, evID: 8, evOffset: 12, evSeqno: 16, evLineSeqno: 20,
		chipInfoIoctl: 0x8044b401, getLineIoctl: 0xc250b407,
	}
	if got != want {
		t.Errorf("%s: gpio layout = %+v (x/sys), want %+v", runtime.GOARCH, got, want)
	}
}

// bytesOf is the memory of *p, as the kernel reads and writes it.
func bytesOf[T any](p *T) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(p)), unsafe.Sizeof(*p))
}

// readTimeout decodes a pps_ktime the way pps_cdev_pps_fetch uses it and
// returns the wait in ns (HZ-independent), or -1 for "forever".
func readTimeout(b []byte) int64 {
	sec := int64(binary.LittleEndian.Uint64(b[0:]))
	nsec := int64(int32(binary.LittleEndian.Uint32(b[8:])))
	flags := binary.LittleEndian.Uint32(b[12:])
	if flags&ppsTimeInvalid != 0 {
		return -1
	}
	return sec*1e9 + nsec
}

func TestPutFetchTimeout(t *testing.T) {
	var f unix.PPSFData
	timeout := unsafe.Offsetof(f.Timeout)
	for _, tc := range []struct {
		name       string
		timeoutNs  int64
		dual       bool
		wantNative int64
		wantCompat int64 // only checked when dual
	}{
		{"native 250ms", 250e6, false, 250e6, 0},
		{"native 1s", 1e9, false, 1e9, 0},
		{"native clamp 5s", 5e9, false, 1e9, 0},
		{"dual 250ms", 250e6, true, 250e6, 1e9},
		{"dual odd ns made even", 250e6 + 1, true, 250e6, 1e9},
		{"dual 1s", 1e9, true, 1e9, 1e9},
		{"dual tiny", 1, true, 2, 1e9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.dual && timeout < compatTimeout+4 {
				t.Skipf("pps_fdata on %s is the compat layout (timeout at %d): one view only", runtime.GOARCH, timeout)
			}
			b := bytesOf(&f)
			for i := range b {
				b[i] = 0xAA // putFetch must clear what it does not set
			}
			putFetch(&f, tc.timeoutNs, tc.dual)
			if got := readTimeout(b[timeout:]); got != tc.wantNative {
				t.Errorf("native view: timeout = %d ns, want %d", got, tc.wantNative)
			}
			if tc.dual {
				if got := readTimeout(b[compatTimeout:]); got != tc.wantCompat {
					t.Errorf("compat view: timeout = %d ns, want %d", got, tc.wantCompat)
				}
			}
			for i := 0; i < int(unsafe.Offsetof(f.Info.Assert_tu)); i++ {
				if b[i] != 0 {
					t.Fatalf("byte %d = %#x, want 0", i, b[i])
				}
			}
		})
	}
}

func TestKinfoDecode(t *testing.T) {
	// A pps_kinfo as an arm64 kernel writes it: assert seq 7 at
	// 1700000000.123456789, clear seq 6 at 1700000000.023456789, mode 0x1011.
	b := make([]byte, 64)
	binary.LittleEndian.PutUint32(b[0:], 7)
	binary.LittleEndian.PutUint32(b[4:], 6)
	binary.LittleEndian.PutUint64(b[8:], 1700000000)
	binary.LittleEndian.PutUint32(b[16:], 123456789)
	binary.LittleEndian.PutUint64(b[24:], 1700000000)
	binary.LittleEndian.PutUint32(b[32:], 23456789)
	binary.LittleEndian.PutUint32(b[40:], 0x1011)
	var got unix.PPSKInfo
	copy(bytesOf(&got), b)
	want := unix.PPSKInfo{
		Assert_sequence: 7, Clear_sequence: 6,
		Assert_tu:    unix.PPSKTime{Sec: 1700000000, Nsec: 123456789},
		Clear_tu:     unix.PPSKTime{Sec: 1700000000, Nsec: 23456789},
		Current_mode: 0x1011,
	}
	if got != want {
		t.Errorf("x/sys PPSKInfo read from the kernel's bytes = %+v, want %+v", got, want)
	}
}

// TestKparamsRoundTrip: a PPSKParams as the kernel reads it (api_version @0,
// mode @4, assert_off_tu @8, clear_off_tu @24) decodes back to itself.
func TestKparamsRoundTrip(t *testing.T) {
	p := unix.PPSKParams{Api_version: 1, Mode: ppsCaptureAssert | ppsTSFmtTSpec, Assert_off_tu: unix.PPSKTime{Nsec: -11000}}
	b := bytesOf(&p)
	if got := binary.LittleEndian.Uint32(b[4:]); got != 0x1001 {
		t.Errorf("mode bytes = %#x, want 0x1001", got)
	}
	ktime := func(b []byte) unix.PPSKTime {
		return unix.PPSKTime{
			Sec:   int64(binary.LittleEndian.Uint64(b[0:])),
			Nsec:  int32(binary.LittleEndian.Uint32(b[8:])),
			Flags: binary.LittleEndian.Uint32(b[12:]),
		}
	}
	got := unix.PPSKParams{
		Api_version:   int32(binary.LittleEndian.Uint32(b[0:])),
		Mode:          int32(binary.LittleEndian.Uint32(b[4:])),
		Assert_off_tu: ktime(b[8:]),
		Clear_off_tu:  ktime(b[24:]),
	}
	if got != p {
		t.Errorf("kernel's reading of %+v = %+v", p, got)
	}
}

func TestGPIOEncode(t *testing.T) {
	flags := uint64(gpioV2LineFlagInput | gpioV2LineFlagEdgeRising | gpioV2LineFlagEventClockRealtime)
	req := lineRequest(18, "gpsntp-pps", flags)
	b := bytesOf(&req)
	if got := binary.LittleEndian.Uint32(b[0:]); got != 18 {
		t.Errorf("offsets[0] = %d, want 18", got)
	}
	if got := unix.ByteSliceToString(b[256:288]); got != "gpsntp-pps" {
		t.Errorf("consumer = %q, want gpsntp-pps", got)
	}
	if got := binary.LittleEndian.Uint64(b[288:]); got != 0x814 {
		t.Errorf("config.flags = %#x, want 0x814 (INPUT|EDGE_RISING|EVENT_CLOCK_REALTIME)", got)
	}
	if got := binary.LittleEndian.Uint32(b[560:]); got != 1 {
		t.Errorf("num_lines = %d, want 1", got)
	}
	binary.LittleEndian.PutUint32(b[588:], 9)
	if got := req.Fd; got != 9 {
		t.Errorf("Fd = %d, want 9", got)
	}
	// A 31+ byte consumer is truncated, keeping the NUL.
	req = lineRequest(4, "0123456789012345678901234567890123456789", flags)
	if b[256+31] != 0 {
		t.Errorf("consumer not NUL terminated")
	}

	var ev unix.GPIOV2LineEvent
	eb := bytesOf(&ev)
	binary.LittleEndian.PutUint64(eb[0:], 1700000000123456789)
	binary.LittleEndian.PutUint32(eb[8:], unix.GPIO_V2_LINE_EVENT_RISING_EDGE)
	binary.LittleEndian.PutUint32(eb[12:], 18)
	binary.LittleEndian.PutUint32(eb[16:], 41)
	binary.LittleEndian.PutUint32(eb[20:], 40)
	want := unix.GPIOV2LineEvent{Timestamp_ns: 1700000000123456789, Id: 1, Offset: 18, Seqno: 41, Line_seqno: 40}
	if ev != want {
		t.Errorf("x/sys GPIOV2LineEvent read from the kernel's bytes = %+v, want %+v", ev, want)
	}

	var ci unix.GPIOChipInfo
	cb := bytesOf(&ci)
	copy(cb, "gpiochip0")
	copy(cb[32:], "pinctrl-rp1")
	binary.LittleEndian.PutUint32(cb[64:], 54)
	if n, l, lines := unix.ByteSliceToString(ci.Name[:]), unix.ByteSliceToString(ci.Label[:]), ci.Lines; n != "gpiochip0" || l != "pinctrl-rp1" || lines != 54 {
		t.Errorf("chip info = %q, %q, %d, want gpiochip0, pinctrl-rp1, 54", n, l, lines)
	}
}
