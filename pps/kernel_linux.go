package pps

import (
	"context"
	"errors"
	"os"
	"sync"
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
	abi   abi
	l     ppsLayout
	clear bool
	slice time.Duration

	mu      sync.Mutex // guards buf, haveSeq, lastSeq
	buf     []byte
	haveSeq bool
	lastSeq uint32

	caps int32
	mode int32
}

// OpenKernel opens a PPS device such as /dev/pps0, checks it can capture the
// configured edge, and configures it: capture assert (or clear), no echo, no
// kernel offset (the caller applies board offsets). Changing the mode needs
// CAP_SYS_TIME; without it, a device whose current mode already fits is
// accepted as it is.
func OpenKernel(path string, cfg KernelConfig) (*Kernel, error) {
	a, err := hostABI()
	if err != nil {
		return nil, pathErr("open", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		// O_RDWR is what PPS_SETPARAMS needs; fall back for a read-only node.
		f2, err2 := os.OpenFile(path, os.O_RDONLY|unix.O_NOCTTY, 0)
		if err2 != nil {
			return nil, err
		}
		f = f2
	}
	k := &Kernel{path: path, f: f, abi: a, l: a.pps(), clear: cfg.CaptureClear,
		slice: cfg.FetchSlice}
	if k.slice <= 0 || k.slice > time.Second {
		k.slice = time.Second
	}
	k.buf = make([]byte, max(k.l.fdataSize, k.l.kparamsSize, 8))
	if err := k.setup(); err != nil {
		f.Close()
		return nil, pathErr("open", path, err)
	}
	return k, nil
}

func (k *Kernel) setup() error {
	var caps int32
	if err := ioctlFile(k.f, "PPS_GETCAP", k.abi.ppsGetCap(), unsafe.Pointer(&caps)); err != nil {
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
	if err := ioctlFile(k.f, "PPS_GETPARAMS", k.abi.ppsGetParams(), unsafe.Pointer(&k.buf[0])); err != nil {
		return err
	}
	cur := k.l.getKparams(k.buf)
	want := ppsKparams{APIVersion: ppsAPIVers, Mode: capture | ppsTSFmtTSpec}
	// pps-gpio's default mode is CAPTUREASSERT|OFFSETASSERT with a zero
	// offset: that fits as it is, and needs no CAP_SYS_TIME to keep.
	noOffset := (cur.Mode&ppsOffsetAssert == 0 || cur.AssertOffTu == ppsKtime{}) &&
		(cur.Mode&ppsOffsetClear == 0 || cur.ClearOffTu == ppsKtime{})
	if cur.Mode&capture != 0 && noOffset {
		k.mode = cur.Mode
		return nil
	}
	// Keep the other capture bit if set: another reader (ppstest, chrony) may
	// rely on it, and dedupe by sequence makes it harmless to us.
	want.Mode |= cur.Mode & (ppsCaptureAssert | ppsCaptureClear)
	k.l.putKparams(k.buf, want)
	if err := ioctlFile(k.f, "PPS_SETPARAMS", k.abi.ppsSetParams(), unsafe.Pointer(&k.buf[0])); err != nil {
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
	// 32-bit ARM may run on a 64-bit kernel; the fetch buffer is written so
	// that both of its readings are sane.
	dual := k.abi.arch == "arm"
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
		k.l.putFetch(k.buf, int64(wait), dual)
		err := ioctlFile(k.f, "PPS_FETCH", k.abi.ppsFetch(), unsafe.Pointer(&k.buf[0]))
		if errors.Is(err, unix.ETIMEDOUT) {
			continue
		}
		if err != nil {
			return Edge{}, pathErr("read", k.path, err)
		}
		info := k.l.getKinfo(k.buf)
		seq, ts := info.AssertSeq, info.AssertTu
		if k.clear {
			seq, ts = info.ClearSeq, info.ClearTu
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

// Close releases the device. A Next blocked in PPS_FETCH returns within
// FetchSlice; the descriptor is closed when it has.
func (k *Kernel) Close() error { return k.f.Close() }
