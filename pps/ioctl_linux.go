package pps

import (
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ioctlFile runs ioctl(fd, req, arg) on f while holding a reference to its
// descriptor, so a concurrent Close waits for the call instead of letting the
// number be reused under it. name is the request's kernel name for errors.
func ioctlFile(f *os.File, name string, req uint32, arg unsafe.Pointer) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var errno unix.Errno
	cerr := rc.Control(func(fd uintptr) {
		for {
			_, _, e := unix.Syscall(unix.SYS_IOCTL, fd, uintptr(req), uintptr(arg))
			if e != unix.EINTR {
				errno = e
				return
			}
		}
	})
	if cerr != nil {
		// RawConn.Control fails only once the file is closing.
		return os.ErrClosed
	}
	if errno != 0 {
		return &ioctlError{name: name, errno: errno}
	}
	return nil
}

// ioctlError names the request, as in "ioctl(PPS_GETCAP): operation not
// permitted". errors.Is(err, unix.EPERM) sees the errno.
type ioctlError struct {
	name  string
	errno unix.Errno
}

func (e *ioctlError) Error() string { return fmt.Sprintf("ioctl(%s): %v", e.name, e.errno) }
func (e *ioctlError) Unwrap() error { return e.errno }

// pathErr wraps err as "op path: err".
func pathErr(op, path string, err error) error {
	return &os.PathError{Op: op, Path: path, Err: err}
}
