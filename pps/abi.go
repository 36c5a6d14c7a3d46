package pps

import (
	"encoding/binary"
	"fmt"
)

// This file describes the kernel ABI the Linux drivers speak, as plain data,
// so that one test (abi_test.go, no build tags) can check every supported
// GOARCH from any host. The drivers marshal structs into byte slices at the
// offsets given here instead of relying on Go's struct layout, which differs
// from gcc's on 32-bit ARM (Go aligns int64 to 4 there, EABI gcc to 8).
//
// Sources: include/uapi/linux/pps.h, include/uapi/linux/gpio.h,
// include/uapi/asm-generic/ioctl.h. All three supported architectures are
// little-endian.

// ioctl direction bits and field shifts from include/uapi/asm-generic/ioctl.h
// (used by x86, arm and arm64; not by mips, powerpc, sparc, alpha).
const (
	iocNone  = 0
	iocWrite = 1
	iocRead  = 2

	iocNRShift   = 0
	iocTypeShift = 8
	iocSizeShift = 16
	iocDirShift  = 30
)

// ioc is the kernel's _IOC(dir, type, nr, size).
func ioc(dir, typ, nr, size uint32) uint32 {
	return dir<<iocDirShift | typ<<iocTypeShift | nr<<iocNRShift | size<<iocSizeShift
}

// abi is everything arch dependent about the ioctls the drivers make.
type abi struct {
	arch string
	// ptrSize is sizeof(void *). The PPS ioctls are declared with pointer
	// types (_IOR('p', 0xa1, struct pps_kparams *)), so their size field is
	// the pointer size, not the struct size.
	ptrSize uint32
	// s64Align is gcc's alignment of __s64 inside a struct: 8 on amd64,
	// arm64 and ARM EABI, 4 on i386.
	s64Align uint32
}

var abis = map[string]abi{
	"amd64": {arch: "amd64", ptrSize: 8, s64Align: 8},
	"arm64": {arch: "arm64", ptrSize: 8, s64Align: 8},
	"arm":   {arch: "arm", ptrSize: 4, s64Align: 8},
}

func abiFor(goarch string) (abi, error) {
	a, ok := abis[goarch]
	if !ok {
		return abi{}, fmt.Errorf("pps: kernel ABI for GOARCH=%s not described (supported: amd64, arm64, arm)", goarch)
	}
	return a, nil
}

func alignUp(n, a uint32) uint32 { return (n + a - 1) / a * a }

// ---- PPS (include/uapi/linux/pps.h) ----

// PPS mode bits.
const (
	ppsCaptureAssert = 0x01
	ppsCaptureClear  = 0x02
	ppsOffsetAssert  = 0x10
	ppsOffsetClear   = 0x20
	ppsEchoAssert    = 0x40
	ppsEchoClear     = 0x80
	ppsCanWait       = 0x100
	ppsTSFmtTSpec    = 0x1000
	ppsTimeInvalid   = 1 << 0 // pps_ktime.flags
	ppsAPIVers       = 1
)

// ppsLayout holds sizes and offsets of the PPS structs for one arch.
type ppsLayout struct {
	ktimeSize   uint32 // struct pps_ktime {__s64 sec; __s32 nsec; __u32 flags;}
	kinfoSize   uint32 // struct pps_kinfo
	assertTu    uint32 // offsetof(pps_kinfo, assert_tu)
	clearTu     uint32 // offsetof(pps_kinfo, clear_tu)
	currentMode uint32 // offsetof(pps_kinfo, current_mode)
	kparamsSize uint32 // struct pps_kparams
	assertOff   uint32 // offsetof(pps_kparams, assert_off_tu)
	clearOff    uint32 // offsetof(pps_kparams, clear_off_tu)
	fdataSize   uint32 // struct pps_fdata
	timeout     uint32 // offsetof(pps_fdata, timeout)
}

// pps computes the C layout of the PPS structs by the C rules: each member
// at the next multiple of its alignment, the struct padded to a multiple of
// its largest member alignment.
func (a abi) pps() ppsLayout {
	var l ppsLayout
	l.ktimeSize = alignUp(8+4+4, a.s64Align) // 16 everywhere
	// pps_kinfo: u32, u32, ktime, ktime, int
	off := uint32(8)
	l.assertTu = alignUp(off, a.s64Align)
	l.clearTu = l.assertTu + l.ktimeSize
	l.currentMode = l.clearTu + l.ktimeSize
	l.kinfoSize = alignUp(l.currentMode+4, a.s64Align)
	// pps_kparams: int, int, ktime, ktime
	l.assertOff = alignUp(8, a.s64Align)
	l.clearOff = l.assertOff + l.ktimeSize
	l.kparamsSize = alignUp(l.clearOff+l.ktimeSize, a.s64Align)
	// pps_fdata: kinfo, ktime
	l.timeout = alignUp(l.kinfoSize, a.s64Align)
	l.fdataSize = alignUp(l.timeout+l.ktimeSize, a.s64Align)
	return l
}

// PPS ioctl numbers: 'p' 0xa1..0xa4, size = sizeof(pointer).
func (a abi) ppsGetParams() uint32 { return ioc(iocRead, 'p', 0xa1, a.ptrSize) }
func (a abi) ppsSetParams() uint32 { return ioc(iocWrite, 'p', 0xa2, a.ptrSize) }
func (a abi) ppsGetCap() uint32    { return ioc(iocRead, 'p', 0xa3, a.ptrSize) }
func (a abi) ppsFetch() uint32     { return ioc(iocRead|iocWrite, 'p', 0xa4, a.ptrSize) }

// ppsKtime is struct pps_ktime.
type ppsKtime struct {
	Sec   int64
	Nsec  int32
	Flags uint32
}

func putKtime(b []byte, t ppsKtime) {
	binary.LittleEndian.PutUint64(b[0:], uint64(t.Sec))
	binary.LittleEndian.PutUint32(b[8:], uint32(t.Nsec))
	binary.LittleEndian.PutUint32(b[12:], t.Flags)
}

func getKtime(b []byte) ppsKtime {
	return ppsKtime{
		Sec:   int64(binary.LittleEndian.Uint64(b[0:])),
		Nsec:  int32(binary.LittleEndian.Uint32(b[8:])),
		Flags: binary.LittleEndian.Uint32(b[12:]),
	}
}

// ppsKparams is struct pps_kparams.
type ppsKparams struct {
	APIVersion  int32
	Mode        int32
	AssertOffTu ppsKtime
	ClearOffTu  ppsKtime
}

func (l ppsLayout) putKparams(b []byte, p ppsKparams) {
	clear(b[:l.kparamsSize])
	binary.LittleEndian.PutUint32(b[0:], uint32(p.APIVersion))
	binary.LittleEndian.PutUint32(b[4:], uint32(p.Mode))
	putKtime(b[l.assertOff:], p.AssertOffTu)
	putKtime(b[l.clearOff:], p.ClearOffTu)
}

func (l ppsLayout) getKparams(b []byte) ppsKparams {
	return ppsKparams{
		APIVersion:  int32(binary.LittleEndian.Uint32(b[0:])),
		Mode:        int32(binary.LittleEndian.Uint32(b[4:])),
		AssertOffTu: getKtime(b[l.assertOff:]),
		ClearOffTu:  getKtime(b[l.clearOff:]),
	}
}

// ppsKinfo is struct pps_kinfo.
type ppsKinfo struct {
	AssertSeq   uint32
	ClearSeq    uint32
	AssertTu    ppsKtime
	ClearTu     ppsKtime
	CurrentMode int32
}

func (l ppsLayout) getKinfo(b []byte) ppsKinfo {
	return ppsKinfo{
		AssertSeq:   binary.LittleEndian.Uint32(b[0:]),
		ClearSeq:    binary.LittleEndian.Uint32(b[4:]),
		AssertTu:    getKtime(b[l.assertTu:]),
		ClearTu:     getKtime(b[l.clearTu:]),
		CurrentMode: int32(binary.LittleEndian.Uint32(b[l.currentMode:])),
	}
}

// compatTimeout is offsetof(struct pps_fdata_compat, timeout): pps_kinfo_compat
// packs its pps_ktime_compat members at 4-byte alignment, so it is 44 bytes.
const compatTimeout = 44

// putFetch fills a struct pps_fdata for PPS_FETCH with a finite timeout of
// about timeoutNs (clamped to [1 ns, 1 s]).
//
// For 32-bit ARM the buffer is built so that two kernels read the same
// meaning from it. A 64-bit kernel's compat_ioctl path, since commit
// c2a49fe8eeef ("pps: fix padding issue with PPS_FETCH for ioctl_compat",
// 2023) and unless patched (raspberrypi/linux#5478 makes it x86-only), reads
// the timeout at offset 44 (pps_fdata_compat, i386 layout) although ARM EABI
// userland put it at 48. ppstest then times out on 32-bit Raspberry Pi OS with
// a 64-bit kernel (raspberrypi/linux#5430). Here, with T = timeoutNs:
//
//	offset  44..48   48..56  56..60   60..64
//	native  (pad)    sec=0   nsec=T   flags=0        waits T
//	compat  sec=1 → (sec hi=0, nsec=0) flags=T       waits 1 s (T even: no PPS_TIME_INVALID)
//
// pps_cdev_pps_fetch only tests flags&PPS_TIME_INVALID and computes
// ticks = sec*HZ + nsec/(NSEC_PER_SEC/HZ), so both readings are finite waits.
func (l ppsLayout) putFetch(b []byte, timeoutNs int64, dualView bool) {
	clear(b[:l.fdataSize])
	timeoutNs = max(1, min(timeoutNs, 1e9))
	if !dualView {
		putKtime(b[l.timeout:], ppsKtime{Sec: timeoutNs / 1e9, Nsec: int32(timeoutNs % 1e9)})
		return
	}
	t := uint32(timeoutNs) &^ ppsTimeInvalid // even
	if t == 0 {
		t = 2
	}
	binary.LittleEndian.PutUint32(b[compatTimeout:], 1) // compat sec
	putKtime(b[l.timeout:], ppsKtime{Sec: 0, Nsec: int32(t)})
}

// ---- GPIO character device v2 (include/uapi/linux/gpio.h, Linux ≥ 5.10) ----
//
// The v2 structs were designed with explicit padding and __aligned_u64 so
// that they have one layout on every architecture; the table is still
// computed per arch so the test says so rather than assumes it.

const (
	gpioMaxNameSize = 32
	gpioLinesMax    = 64
	gpioNumAttrsMax = 10

	gpioV2LineFlagInput              = 1 << 2
	gpioV2LineFlagEdgeRising         = 1 << 4
	gpioV2LineFlagEdgeFalling        = 1 << 5
	gpioV2LineFlagBiasPullUp         = 1 << 8
	gpioV2LineFlagBiasPullDown       = 1 << 9
	gpioV2LineFlagBiasDisabled       = 1 << 10
	gpioV2LineFlagEventClockRealtime = 1 << 11 // Linux ≥ 5.11

	gpioV2LineEventRisingEdge  = 1
	gpioV2LineEventFallingEdge = 2
)

type gpioLayout struct {
	chipInfoSize  uint32 // struct gpiochip_info {char name[32]; char label[32]; __u32 lines;}
	chipLabel     uint32
	chipLines     uint32
	lineAttrSize  uint32 // struct gpio_v2_line_attribute
	cfgAttrSize   uint32 // struct gpio_v2_line_config_attribute
	lineCfgSize   uint32 // struct gpio_v2_line_config
	cfgNumAttrs   uint32
	reqSize       uint32 // struct gpio_v2_line_request
	reqConsumer   uint32
	reqConfig     uint32
	reqNumLines   uint32
	reqEventBuf   uint32
	reqFd         uint32
	eventSize     uint32 // struct gpio_v2_line_event
	evID          uint32
	evOffset      uint32
	evSeqno       uint32
	evLineSeqno   uint32
	chipInfoIoctl uint32
	getLineIoctl  uint32
}

func (a abi) gpio() gpioLayout {
	var l gpioLayout
	const u64 = 8 // __aligned_u64 is aligned(8) on every arch
	l.chipLabel = gpioMaxNameSize
	l.chipLines = 2 * gpioMaxNameSize
	l.chipInfoSize = l.chipLines + 4 // only u32/char members: align 4
	// gpio_v2_line_attribute {u32 id; u32 padding; union{aligned_u64...}}
	l.lineAttrSize = alignUp(8, u64) + 8
	// gpio_v2_line_config_attribute {attr; aligned_u64 mask}
	l.cfgAttrSize = alignUp(l.lineAttrSize, u64) + 8
	// gpio_v2_line_config {aligned_u64 flags; u32 num_attrs; u32 padding[5]; attrs[10]}
	l.cfgNumAttrs = 8
	l.lineCfgSize = alignUp(8+4+5*4, u64) + gpioNumAttrsMax*l.cfgAttrSize
	// gpio_v2_line_request {u32 offsets[64]; char consumer[32]; config;
	//   u32 num_lines; u32 event_buffer_size; u32 padding[5]; s32 fd}
	l.reqConsumer = 4 * gpioLinesMax
	l.reqConfig = alignUp(l.reqConsumer+gpioMaxNameSize, u64)
	l.reqNumLines = l.reqConfig + l.lineCfgSize
	l.reqEventBuf = l.reqNumLines + 4
	l.reqFd = l.reqEventBuf + 4 + 5*4
	l.reqSize = alignUp(l.reqFd+4, u64)
	// gpio_v2_line_event {aligned_u64 timestamp_ns; u32 id, offset, seqno,
	//   line_seqno; u32 padding[6]}
	l.evID = 8
	l.evOffset = 12
	l.evSeqno = 16
	l.evLineSeqno = 20
	l.eventSize = alignUp(24+6*4, u64)
	l.chipInfoIoctl = ioc(iocRead, 0xB4, 0x01, l.chipInfoSize)
	l.getLineIoctl = ioc(iocRead|iocWrite, 0xB4, 0x07, l.reqSize)
	return l
}

// putLineRequest fills a struct gpio_v2_line_request for one line.
func (l gpioLayout) putLineRequest(b []byte, offset uint32, consumer string, flags uint64) {
	clear(b[:l.reqSize])
	binary.LittleEndian.PutUint32(b[0:], offset)
	copy(b[l.reqConsumer:l.reqConsumer+gpioMaxNameSize-1], consumer)
	binary.LittleEndian.PutUint64(b[l.reqConfig:], flags)
	binary.LittleEndian.PutUint32(b[l.reqNumLines:], 1)
}

func (l gpioLayout) lineRequestFd(b []byte) int32 {
	return int32(binary.LittleEndian.Uint32(b[l.reqFd:]))
}

// gpioEvent is struct gpio_v2_line_event.
type gpioEvent struct {
	TimestampNs uint64
	ID          uint32
	Offset      uint32
	Seqno       uint32
	LineSeqno   uint32
}

func (l gpioLayout) getEvent(b []byte) gpioEvent {
	return gpioEvent{
		TimestampNs: binary.LittleEndian.Uint64(b[0:]),
		ID:          binary.LittleEndian.Uint32(b[l.evID:]),
		Offset:      binary.LittleEndian.Uint32(b[l.evOffset:]),
		Seqno:       binary.LittleEndian.Uint32(b[l.evSeqno:]),
		LineSeqno:   binary.LittleEndian.Uint32(b[l.evLineSeqno:]),
	}
}

// chipLabel returns gpiochip_info.label.
func (l gpioLayout) chipInfo(b []byte) (name, label string, lines uint32) {
	return cstring(b[:gpioMaxNameSize]), cstring(b[l.chipLabel : l.chipLabel+gpioMaxNameSize]),
		binary.LittleEndian.Uint32(b[l.chipLines:])
}

func cstring(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// ---- serial modem lines (include/uapi/asm-generic/ioctls.h, termios.h) ----
// These are the same on amd64, arm64 and arm (not on mips, powerpc, sparc).

const (
	tiocmget    = 0x5415
	tiocmiwait  = 0x545C
	tiocgicount = 0x545D
	tiocmCD     = 0x040 // TIOCM_CAR, carrier detect

	// struct serial_icounter_struct {int cts, dsr, rng, dcd, rx, tx, frame,
	// overrun, parity, brk, buf_overrun; int reserved[9];}
	icounterSize = 20 * 4
	icounterDCD  = 3 * 4
)

// icountDCD returns serial_icounter_struct.dcd: the number of DCD
// transitions (both directions) the driver has counted.
func icountDCD(b []byte) uint32 { return binary.LittleEndian.Uint32(b[icounterDCD:]) }
