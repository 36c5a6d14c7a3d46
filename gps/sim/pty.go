//go:build linux

package sim

import (
	"fmt"
	"os"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// OpenPTY opens a pseudo-terminal pair (/dev/ptmx) and returns the master,
// for a simulated receiver to write to, and the slave's device path, for
// the code under test to open as its serial port. The slave is put in raw
// mode (no echo, no CR/LF translation) and closed here: Linux keeps the pair
// while the master is open, and data written meanwhile is discarded until the
// slave is opened, as bytes on an unread UART are. Closing the master makes
// the slave path disappear (an unplugged receiver).
func OpenPTY() (master *os.File, slavePath string, err error) {
	m, s, err := pty.Open()
	if err != nil {
		return nil, "", fmt.Errorf("open pty: %w", err)
	}
	defer s.Close()
	t, err := unix.IoctlGetTermios(int(s.Fd()), unix.TCGETS)
	if err != nil {
		m.Close()
		return nil, "", fmt.Errorf("open pty: ioctl(TCGETS): %w", err)
	}
	// cfmakeraw(3)
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	if err := unix.IoctlSetTermios(int(s.Fd()), unix.TCSETS, t); err != nil {
		m.Close()
		return nil, "", fmt.Errorf("open pty: ioctl(TCSETS): %w", err)
	}
	return m, s.Name(), nil
}
