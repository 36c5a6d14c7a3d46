package ntpserve

import "net/netip"

// ControlSource is what mode 6 (ntpq, RFC 1305 appendix B / RFC 9327)
// reports: the system and its associations. Not implemented yet: a nil
// Config.Control drops all of mode 6.
type ControlSource interface{}

// control answers one mode 6 request from src (whose restrict rule lifts
// noquery), calling send for each reply fragment, and returns the outcome
// to count.
func (h *handler) control(req []byte, src netip.Addr, send func(reply []byte)) Outcome {
	return OutDropQuery
}
