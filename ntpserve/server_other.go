//go:build !linux

package ntpserve

import (
	"errors"
	"net"
)

// worker exists on other systems only so the package builds; New fails.
type worker struct{ c counters }

func (w *worker) run() error { return errors.New("ntpserve: not supported on this system") }

func (w *worker) stop(bool) error { return nil }

func (s *Server) open(Config) error {
	return errors.New("ntpserve: only Linux is supported (kernel receive timestamps, recvmmsg)")
}

// EnableRxTimestamps: no kernel receive timestamps off Linux.
func EnableRxTimestamps(*net.UDPConn) bool { return false }

// RxTimestamp: none off Linux; readers take user-space times.
func RxTimestamp([]byte) int64 { return 0 }
