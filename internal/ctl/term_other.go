//go:build !linux

package ctl

import "errors"

// MakeRaw is Linux-only.
func MakeRaw(fd int, baud int) (restore func() error, err error) {
	return nil, errors.New("console: terminal modes are supported on Linux only")
}

// IsTerminal is Linux-only; elsewhere it reports false.
func IsTerminal(fd int) bool { return false }
