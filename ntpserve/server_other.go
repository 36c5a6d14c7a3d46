//go:build !linux

package ntpserve

import "errors"

// worker exists on other systems only so the package builds; New fails.
type worker struct{ c counters }

func (w *worker) run() error { return errors.New("ntpserve: not supported on this system") }

func (w *worker) stop(bool) error { return nil }

func (s *Server) open(Config) error {
	return errors.New("ntpserve: only Linux is supported (kernel receive timestamps, recvmmsg)")
}
