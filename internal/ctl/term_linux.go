package ctl

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// MakeRaw puts the terminal on fd into the mode the Console needs: no
// echo, no line editing (the console does both), CR not translated, signals
// still delivered (Ctrl-C stops a foreground gpsntpd), output post-processing
// as it was. baud > 0 also sets the line speed (a serial console; ignored by
// ptys and VTs). It returns a function restoring the previous settings.
func MakeRaw(fd int, baud int) (restore func() error, err error) {
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, fmt.Errorf("ioctl(TCGETS): %w", err)
	}
	t := *old
	t.Iflag &^= unix.ICRNL | unix.INLCR | unix.IGNCR | unix.IXON | unix.ISTRIP
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.IEXTEN
	t.Cc[unix.VMIN] = 1
	t.Cc[unix.VTIME] = 0
	if baud > 0 {
		b, ok := baudFlags[baud]
		if !ok {
			return nil, fmt.Errorf("baud %d not supported", baud)
		}
		t.Cflag = t.Cflag&^unix.CBAUD | b
		t.Ispeed, t.Ospeed = uint32(baud), uint32(baud)
	}
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &t); err != nil {
		return nil, fmt.Errorf("ioctl(TCSETS): %w", err)
	}
	return func() error { return unix.IoctlSetTermios(fd, unix.TCSETS, old) }, nil
}

var baudFlags = map[int]uint32{
	9600: unix.B9600, 19200: unix.B19200, 38400: unix.B38400,
	57600: unix.B57600, 115200: unix.B115200, 230400: unix.B230400,
}

// IsTerminal reports whether fd is a terminal.
func IsTerminal(fd int) bool {
	_, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	return err == nil
}
