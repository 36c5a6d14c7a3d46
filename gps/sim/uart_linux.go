package sim

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// termiosRates maps termios CBAUD codes to line rates.
var termiosRates = map[uint32]int{
	unix.B1200: 1200, unix.B2400: 2400, unix.B4800: 4800, unix.B9600: 9600,
	unix.B19200: 19200, unix.B38400: 38400, unix.B57600: 57600, unix.B115200: 115200,
	unix.B230400: 230400, unix.B460800: 460800, unix.B921600: 921600,
}

// LineRate returns the line rate the slave side of the pty is set to (by
// whoever opened it as a serial port), read through the master: Linux
// applies termios requests on a pty master to its slave (tty_mode_ioctl in
// drivers/tty/tty_ioctl.c), so the far side can see the rate a serial port
// driver chose although the pty itself carries bytes at any setting.
func LineRate(master *os.File) (int, error) {
	t, err := unix.IoctlGetTermios(int(master.Fd()), unix.TCGETS)
	if err != nil {
		return 0, fmt.Errorf("pty line rate: ioctl(TCGETS): %w", err)
	}
	code := t.Cflag & unix.CBAUD
	if r, ok := termiosRates[code]; ok {
		return r, nil
	}
	return 0, fmt.Errorf("pty line rate: unknown CBAUD code %#o", code)
}
