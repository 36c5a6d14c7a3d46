package pps

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// DCD timestamps PPS edges on a serial port's DCD (carrier detect) line:
// TIOCMIWAIT wakes the reading thread, which then reads CLOCK_REALTIME in
// user space: scheduling latency adds tens of µs (milliseconds on USB
// adapters, which poll the modem lines), which the servo's noise estimate
// absorbs.
type DCD struct {
	path   string
	f      *os.File
	edge   Polarity
	edges  chan dcdResult
	done   chan struct{}
	closeO sync.Once
}

type dcdResult struct {
	e   Edge
	err error
}

// OpenDCD opens a serial port (O_NONBLOCK, so open does not wait for carrier)
// and starts watching DCD. It sets CLOCAL if it is clear: otherwise the tty
// would hang up every time the pulse drops DCD. It leaves every other
// termios setting to whoever reads NMEA from the port.
func OpenDCD(path string, cfg DCDConfig) (*DCD, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOCTTY|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	if err := ensureCLOCAL(f); err != nil {
		f.Close()
		return nil, pathErr("open", path, err)
	}
	var status int32
	if err := ioctlFile(f, "TIOCMGET", unix.TIOCMGET, unsafe.Pointer(&status)); err != nil {
		f.Close()
		return nil, pathErr("open", path, err)
	}
	d := &DCD{path: path, f: f, edge: cfg.Edge, edges: make(chan dcdResult, 4), done: make(chan struct{})}
	go d.watch()
	return d, nil
}

func ensureCLOCAL(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var opErr error
	if err := rc.Control(func(fd uintptr) {
		t, err := unix.IoctlGetTermios(int(fd), unix.TCGETS)
		if err != nil {
			opErr = fmt.Errorf("ioctl(TCGETS): %w", err)
			return
		}
		if t.Cflag&unix.CLOCAL != 0 {
			return
		}
		t.Cflag |= unix.CLOCAL
		if err := unix.IoctlSetTermios(int(fd), unix.TCSETS, t); err != nil {
			opErr = fmt.Errorf("ioctl(TCSETS): %w", err)
		}
	}); err != nil {
		return os.ErrClosed
	}
	return opErr
}

// watch runs until an error or Close. It cannot be woken by Close: the
// kernel's TIOCMIWAIT waits only for a modem-line change or a signal (and Go
// restarts syscalls after its own signals), so after Close the goroutine
// exits at the next DCD change. The descriptor is closed then too.
func (d *DCD) watch() {
	runtime.LockOSThread() // keep the wake-up to timestamp path short
	defer runtime.UnlockOSThread()
	var (
		seq       uint32
		prevCount uint32
		haveCount bool
		icount    serialIcounter
	)
	for {
		var tsNs int64
		err := ioctlFileThen(d.f, "TIOCMIWAIT", unix.TIOCMIWAIT, unix.TIOCM_CD, func() {
			tsNs = time.Now().UnixNano() // CLOCK_REALTIME via the vDSO
		})
		if err == nil {
			var status int32
			err = ioctlFile(d.f, "TIOCMGET", unix.TIOCMGET, unsafe.Pointer(&status))
			if err == nil && !dcdWanted(status, d.edge) {
				continue
			}
		}
		select {
		case <-d.done:
			return
		default:
		}
		if err != nil {
			select {
			case d.edges <- dcdResult{err: pathErr("read", d.path, err)}:
			case <-d.done:
			}
			return
		}
		// icount.dcd: the number of DCD transitions (both directions)
		// the driver has counted.
		now, have := uint32(0), ioctlFile(d.f, "TIOCGICOUNT", unix.TIOCGICOUNT, unsafe.Pointer(&icount)) == nil
		if have {
			now = uint32(icount.DCD)
		}
		seq += dcdSeqStep(prevCount, now, have && haveCount)
		prevCount, haveCount = now, have
		select {
		case d.edges <- dcdResult{e: Edge{AssertNs: tsNs, Seq: seq}}:
		default: // reader is behind: drop, Seq shows the gap
		}
	}
}

// ioctlFileThen is ioctlFile with an integer argument, running then() as
// soon as the call returns successfully, before anything else.
func ioctlFileThen(f *os.File, name string, req uint32, arg uintptr, then func()) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var errno unix.Errno
	if err := rc.Control(func(fd uintptr) {
		for {
			_, _, e := unix.Syscall(unix.SYS_IOCTL, fd, uintptr(req), arg)
			if e == 0 {
				then()
			}
			if e != unix.EINTR {
				errno = e
				return
			}
		}
	}); err != nil {
		return os.ErrClosed
	}
	if errno != 0 {
		return &ioctlError{name: name, errno: errno}
	}
	return nil
}

// Next returns the next DCD edge of the configured polarity.
func (d *DCD) Next(ctx context.Context) (Edge, error) {
	select {
	case r := <-d.edges:
		return r.e, r.err
	case <-ctx.Done():
		return Edge{}, ctx.Err()
	case <-d.done:
		return Edge{}, pathErr("read", d.path, os.ErrClosed)
	}
}

// Close stops the source. See watch for when the descriptor is released.
func (d *DCD) Close() error {
	var err error
	d.closeO.Do(func() {
		close(d.done)
		err = d.f.Close()
	})
	return err
}
