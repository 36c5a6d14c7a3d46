//go:build !linux

package discipline

import "errors"

// System steers the kernel clock; it exists only on Linux.
type System struct{ Clock }

// OpenSystem fails: clock_adjtime is Linux's.
func OpenSystem() (*System, error) {
	return nil, errors.New("clock system: only on Linux")
}
