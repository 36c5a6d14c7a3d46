package pps

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Kernel reads edges from a Linux PPS device (/dev/ppsN) with PPS_FETCH.
// See doc.go. Next and Close may be called from different goroutines; Next
// is not safe for concurrent use with itself.
type Kernel struct {
	path  string
	f     *os.File
	clear bool
	slice time.Duration

	mu      sync.Mutex // guards fdata, haveSeq, lastSeq
	fdata   unix.PPSFData
	haveSeq bool
	lastSeq uint32

	caps int32
	mode int32

	// sysDev is the device's sysfs directory (/sys/dev/char/MAJ:MIN) and
	// sysIno its inode when opened: see stillRegistered.
	sysDev string
	sysIno uint64
}

// OpenKernel opens a PPS device such as /dev/pps0, checks it can capture the
// configured edge, and configures it: capture assert (or clear), no echo, no
// kernel offset (the caller applies board offsets). Changing the mode needs
// CAP_SYS_TIME; without it, a device whose current mode already fits is
// accepted as it is.
func OpenKernel(path string, cfg KernelConfig) (*Kernel, error) {
	f, err := os.OpenFile(path, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		// O_RDWR is what PPS_SETPARAMS needs; fall back for a read-only node.
		f2, err2 := os.OpenFile(path, os.O_RDONLY|unix.O_NOCTTY, 0)
		if err2 != nil {
			return nil, err
		}
		f = f2
	}
	k := &Kernel{path: path, f: f, clear: cfg.CaptureClear, slice: cfg.FetchSlice}
	// f.Stat, not Fstat(f.Fd()): Fd would put the file in blocking mode.
	if fi, err := f.Stat(); err == nil {
		rdev := fi.Sys().(*syscall.Stat_t).Rdev
		k.sysDev = fmt.Sprintf("/sys/dev/char/%d:%d", unix.Major(uint64(rdev)), unix.Minor(uint64(rdev)))
		var sst unix.Stat_t
		if unix.Stat(k.sysDev, &sst) == nil {
			k.sysIno = sst.Ino
		} else {
			k.sysDev = "" // no sysfs: no check
		}
	}
	if k.slice <= 0 || k.slice > time.Second {
		k.slice = time.Second
	}
	if err := k.setup(); err != nil {
		f.Close()
		return nil, pathErr("open", path, err)
	}
	return k, nil
}

func (k *Kernel) setup() error {
	var caps int32
	if err := ioctlFile(k.f, "PPS_GETCAP", unix.PPS_GETCAP, unsafe.Pointer(&caps)); err != nil {
		return err
	}
	k.caps = caps
	capture := int32(ppsCaptureAssert)
	if k.clear {
		capture = ppsCaptureClear
	}
	if caps&capture == 0 {
		return errors.New("device cannot capture the " + k.edgeName() + " edge (PPS_GETCAP)")
	}
	if caps&ppsCanWait == 0 {
		return errors.New("device cannot wait (no PPS_CANWAIT): PPS_FETCH with a timeout would not block")
	}
	var cur unix.PPSKParams
	if err := ioctlFile(k.f, "PPS_GETPARAMS", unix.PPS_GETPARAMS, unsafe.Pointer(&cur)); err != nil {
		return err
	}
	want := unix.PPSKParams{Api_version: ppsAPIVers, Mode: capture | ppsTSFmtTSpec}
	// pps-gpio's default mode is CAPTUREASSERT|OFFSETASSERT with a zero
	// offset: that fits as it is, and needs no CAP_SYS_TIME to keep.
	noOffset := (cur.Mode&ppsOffsetAssert == 0 || cur.Assert_off_tu == unix.PPSKTime{}) &&
		(cur.Mode&ppsOffsetClear == 0 || cur.Clear_off_tu == unix.PPSKTime{})
	if cur.Mode&capture != 0 && noOffset {
		k.mode = cur.Mode
		return nil
	}
	// Keep the other capture bit if set: another reader (ppstest, chrony) may
	// rely on it, and dedupe by sequence makes it harmless to us.
	want.Mode |= cur.Mode & (ppsCaptureAssert | ppsCaptureClear)
	if err := ioctlFile(k.f, "PPS_SETPARAMS", unix.PPS_SETPARAMS, unsafe.Pointer(&want)); err != nil {
		if errors.Is(err, unix.EPERM) {
			return errors.Join(err, errors.New("changing the PPS mode needs CAP_SYS_TIME"))
		}
		return err
	}
	k.mode = want.Mode
	return nil
}

func (k *Kernel) edgeName() string {
	if k.clear {
		return "clear"
	}
	return "assert"
}

// Caps returns the PPS_GETCAP mode bits (PPS_CAPTUREASSERT 0x01, …).
func (k *Kernel) Caps() int { return int(k.caps) }

// Mode returns the mode in force after OpenKernel (PPS_GETPARAMS bits).
func (k *Kernel) Mode() int { return int(k.mode) }

// Next blocks until the kernel captures a new edge or ctx is done. It waits
// in PPS_FETCH for at most FetchSlice at a time, so cancellation takes effect
// within that time (1 s on 32-bit ARM with a 64-bit kernel, see putFetch).
func (k *Kernel) Next(ctx context.Context) (Edge, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for {
		if err := ctx.Err(); err != nil {
			return Edge{}, err
		}
		wait := k.slice
		if dl, ok := ctx.Deadline(); ok {
			// At least 20 ms so that the kernel's tick count is non-zero
			// at HZ=100 (a zero count returns at once, without waiting).
			wait = max(20*time.Millisecond, min(wait, time.Until(dl)))
		}
		// 32-bit ARM may run on a 64-bit kernel; the fetch buffer is
		// written so that both of its readings are sane (dualFetch).
		putFetch(&k.fdata, int64(wait), dualFetch)
		err := ioctlFile(k.f, "PPS_FETCH", unix.PPS_FETCH, unsafe.Pointer(&k.fdata))
		if errors.Is(err, unix.ETIMEDOUT) {
			if err := k.stillRegistered(); err != nil {
				return Edge{}, pathErr("read", k.path, err)
			}
			continue
		}
		if err != nil {
			return Edge{}, pathErr("read", k.path, err)
		}
		info := &k.fdata.Info
		seq, ts := info.Assert_sequence, info.Assert_tu
		if k.clear {
			seq, ts = info.Clear_sequence, info.Clear_tu
		}
		// Dedupe as chrony's refclock_pps.c does: a wake-up for the other
		// edge, or a repeated fetch, carries the sequence number we already
		// reported. A zero timestamp means no edge has been captured yet.
		if (k.haveSeq && seq == k.lastSeq) || (ts.Sec == 0 && ts.Nsec == 0) {
			continue
		}
		k.haveSeq, k.lastSeq = true, seq
		return Edge{AssertNs: ts.Sec*1e9 + int64(ts.Nsec), Seq: seq}, nil
	}
}

// stillRegistered fails once the device this descriptor reads was
// unregistered (pps-gpio unbound, its module removed): the descriptor stays
// valid and PPS_FETCH just times out for ever, even after a new device
// (most likely with the same name and number) replaced it. sysfs gives a
// new device directory a new inode.
func (k *Kernel) stillRegistered() error {
	if k.sysDev == "" {
		return nil
	}
	var st unix.Stat_t
	if err := unix.Stat(k.sysDev, &st); err != nil || st.Ino != k.sysIno {
		return errors.New("device unregistered (driver unbound or module removed)")
	}
	return nil
}

// Close releases the device. A Next blocked in PPS_FETCH returns within
// FetchSlice; the descriptor is closed when it has.
func (k *Kernel) Close() error { return k.f.Close() }

// dualFetch: a 32-bit ARM binary may run on a 64-bit kernel (32-bit
// Raspberry Pi OS with its 64-bit kernel), whose compat path reads
// PPS_FETCH's timeout where the native layout has padding (see putFetch).
// Kept: a kernel bug's workaround, nothing x/sys could know.
const dualFetch = runtime.GOARCH == "arm"

// putFetch fills f for PPS_FETCH with a finite timeout of about timeoutNs
// (clamped to [1 ns, 1 s]).
//
// With dualView (32-bit ARM) f is written so that two kernels read the
// same meaning from it. A 64-bit kernel's compat_ioctl path, since commit
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
// Where the native layout has no padding at 44 (i386, whose layout is the
// compat one) there is only one reading, and dualView is ignored.
func putFetch(f *unix.PPSFData, timeoutNs int64, dualView bool) {
	// Cleared as bytes: padding has no field name to clear it by.
	b := (*[unsafe.Sizeof(*f)]byte)(unsafe.Pointer(f))
	clear(b[:])
	timeoutNs = max(1, min(timeoutNs, 1e9))
	if !dualView || unsafe.Offsetof(f.Timeout) < compatTimeout+4 {
		f.Timeout = unix.PPSKTime{Sec: timeoutNs / 1e9, Nsec: int32(timeoutNs % 1e9)}
		return
	}
	t := uint32(timeoutNs) &^ ppsTimeInvalid // even
	if t == 0 {
		t = 2
	}
	f.Timeout = unix.PPSKTime{Sec: 0, Nsec: int32(t)}
	// The compat sec's low half is the padding after current_mode.
	binary.NativeEndian.PutUint32(b[compatTimeout:], 1)
}
