package pps

import (
	"encoding/binary"
	"testing"
)

// The expected values below are worked out by hand from the C declarations,
// not by calling the code under test:
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
}

func TestIoctlNumbers(t *testing.T) {
	for _, w := range abiWant {
		t.Run(w.arch, func(t *testing.T) {
			a, err := abiFor(w.arch)
			if err != nil {
				t.Fatal(err)
			}
			g := a.gpio()
			for _, c := range []struct {
				name      string
				got, want uint32
			}{
				{"PPS_GETPARAMS", a.ppsGetParams(), w.getParams},
				{"PPS_SETPARAMS", a.ppsSetParams(), w.setParams},
				{"PPS_GETCAP", a.ppsGetCap(), w.getCap},
				{"PPS_FETCH", a.ppsFetch(), w.fetch},
				{"GPIO_GET_CHIPINFO_IOCTL", g.chipInfoIoctl, w.chipInfo},
				{"GPIO_V2_GET_LINE_IOCTL", g.getLineIoctl, w.getLine},
			} {
				if c.got != c.want {
					t.Errorf("%s = %#x, want %#x", c.name, c.got, c.want)
				}
			}
		})
	}
}

func TestPPSLayout(t *testing.T) {
	want := ppsLayout{
		ktimeSize: 16, kinfoSize: 48, assertTu: 8, clearTu: 24, currentMode: 40,
		kparamsSize: 40, assertOff: 8, clearOff: 24, fdataSize: 64, timeout: 48,
	}
	for _, arch := range []string{"amd64", "arm64", "arm"} {
		a, _ := abiFor(arch)
		if got := a.pps(); got != want {
			t.Errorf("%s: pps layout = %+v, want %+v", arch, got, want)
		}
	}
	// The same rules with 4-byte s64 alignment give the i386 (= compat)
	// layout, which is what pps_fdata_compat describes: timeout at 44.
	i386 := abi{arch: "386", ptrSize: 4, s64Align: 4}.pps()
	if i386.kinfoSize != 44 || i386.timeout != compatTimeout || i386.fdataSize != 60 {
		t.Errorf("i386 layout = %+v, want kinfo 44, timeout %d, fdata 60", i386, compatTimeout)
	}
}

func TestGPIOLayout(t *testing.T) {
	want := gpioLayout{
		chipInfoSize: 68, chipLabel: 32, chipLines: 64,
		lineAttrSize: 16, cfgAttrSize: 24, lineCfgSize: 272, cfgNumAttrs: 8,
		reqSize: 592, reqConsumer: 256, reqConfig: 288, reqNumLines: 560, reqEventBuf: 564, reqFd: 588,
		eventSize: 48, evID: 8, evOffset: 12, evSeqno: 16, evLineSeqno: 20,
		chipInfoIoctl: 0x8044b401, getLineIoctl: 0xc250b407,
	}
	for _, arch := range []string{"amd64", "arm64", "arm"} {
		a, _ := abiFor(arch)
		if got := a.gpio(); got != want {
			t.Errorf("%s: gpio layout = %+v, want %+v", arch, got, want)
		}
	}
}

func TestAbiForUnknown(t *testing.T) {
	if _, err := abiFor("mips"); err == nil {
		t.Error(`abiFor("mips") = nil error, want error`)
	}
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
	l := abis["arm"].pps()
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
			b := make([]byte, l.fdataSize)
			for i := range b {
				b[i] = 0xAA // putFetch must clear what it does not set
			}
			l.putFetch(b, tc.timeoutNs, tc.dual)
			if got := readTimeout(b[l.timeout:]); got != tc.wantNative {
				t.Errorf("native view: timeout = %d ns, want %d", got, tc.wantNative)
			}
			if tc.dual {
				if got := readTimeout(b[compatTimeout:]); got != tc.wantCompat {
					t.Errorf("compat view: timeout = %d ns, want %d", got, tc.wantCompat)
				}
			}
			for i := 0; i < int(l.assertTu); i++ {
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
	got := abis["arm64"].pps().getKinfo(b)
	want := ppsKinfo{
		AssertSeq: 7, ClearSeq: 6,
		AssertTu:    ppsKtime{Sec: 1700000000, Nsec: 123456789},
		ClearTu:     ppsKtime{Sec: 1700000000, Nsec: 23456789},
		CurrentMode: 0x1011,
	}
	if got != want {
		t.Errorf("getKinfo = %+v, want %+v", got, want)
	}
}

func TestKparamsRoundTrip(t *testing.T) {
	l := abis["arm"].pps()
	p := ppsKparams{APIVersion: 1, Mode: ppsCaptureAssert | ppsTSFmtTSpec, AssertOffTu: ppsKtime{Nsec: -11000}}
	b := make([]byte, l.kparamsSize)
	l.putKparams(b, p)
	if got := binary.LittleEndian.Uint32(b[4:]); got != 0x1001 {
		t.Errorf("mode bytes = %#x, want 0x1001", got)
	}
	if got := l.getKparams(b); got != p {
		t.Errorf("getKparams(putKparams(p)) = %+v, want %+v", got, p)
	}
}

func TestGPIOEncode(t *testing.T) {
	g := abis["arm"].gpio()
	b := make([]byte, g.reqSize)
	flags := uint64(gpioV2LineFlagInput | gpioV2LineFlagEdgeRising | gpioV2LineFlagEventClockRealtime)
	g.putLineRequest(b, 18, "gpsntp-pps", flags)
	if got := binary.LittleEndian.Uint32(b[0:]); got != 18 {
		t.Errorf("offsets[0] = %d, want 18", got)
	}
	if got := cstring(b[256:288]); got != "gpsntp-pps" {
		t.Errorf("consumer = %q, want gpsntp-pps", got)
	}
	if got := binary.LittleEndian.Uint64(b[288:]); got != 0x814 {
		t.Errorf("config.flags = %#x, want 0x814 (INPUT|EDGE_RISING|EVENT_CLOCK_REALTIME)", got)
	}
	if got := binary.LittleEndian.Uint32(b[560:]); got != 1 {
		t.Errorf("num_lines = %d, want 1", got)
	}
	binary.LittleEndian.PutUint32(b[588:], 9)
	if got := g.lineRequestFd(b); got != 9 {
		t.Errorf("lineRequestFd = %d, want 9", got)
	}
	// A 31+ byte consumer is truncated, keeping the NUL.
	g.putLineRequest(b, 4, "0123456789012345678901234567890123456789", flags)
	if b[256+31] != 0 {
		t.Errorf("consumer not NUL terminated")
	}

	ev := make([]byte, g.eventSize)
	binary.LittleEndian.PutUint64(ev[0:], 1700000000123456789)
	binary.LittleEndian.PutUint32(ev[8:], gpioV2LineEventRisingEdge)
	binary.LittleEndian.PutUint32(ev[12:], 18)
	binary.LittleEndian.PutUint32(ev[16:], 41)
	binary.LittleEndian.PutUint32(ev[20:], 40)
	want := gpioEvent{TimestampNs: 1700000000123456789, ID: 1, Offset: 18, Seqno: 41, LineSeqno: 40}
	if got := g.getEvent(ev); got != want {
		t.Errorf("getEvent = %+v, want %+v", got, want)
	}

	ci := make([]byte, g.chipInfoSize)
	copy(ci, "gpiochip0")
	copy(ci[32:], "pinctrl-rp1")
	binary.LittleEndian.PutUint32(ci[64:], 54)
	if n, l, lines := g.chipInfo(ci); n != "gpiochip0" || l != "pinctrl-rp1" || lines != 54 {
		t.Errorf("chipInfo = %q, %q, %d, want gpiochip0, pinctrl-rp1, 54", n, l, lines)
	}
}
