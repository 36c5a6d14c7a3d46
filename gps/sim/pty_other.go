//go:build !linux

package sim

import (
	"errors"
	"os"
)

// OpenPTY is implemented on Linux only (the appliance and CI platform).
func OpenPTY() (master *os.File, slavePath string, err error) {
	return nil, "", errors.New("sim: OpenPTY is Linux-only")
}

// LineRate is implemented on Linux only.
func LineRate(master *os.File) (int, error) {
	return 0, errors.New("sim: LineRate is Linux-only")
}
