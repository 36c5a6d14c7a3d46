package upstream

import (
	"fmt"
	"net"

	"github.com/gpsntp/gpsntp/ntpserve"
)

// conn is one of the client's UDP sockets.
type conn struct {
	c            *net.UDPConn
	v6           bool
	kernelStamps bool // SO_TIMESTAMPNS works (else user-space receive times)
}

// listen opens an unconnected socket of family ("udp4" or "udp6") on a
// port the kernel chooses, asking for kernel receive timestamps.
func listen(family string) (*conn, error) {
	addr := "0.0.0.0:0"
	if family == "udp6" {
		addr = "[::]:0"
	}
	la, err := net.ResolveUDPAddr(family, addr)
	if err != nil {
		return nil, fmt.Errorf("upstream: listen %s: %w", addr, err)
	}
	c, err := net.ListenUDP(family, la)
	if err != nil {
		return nil, fmt.Errorf("upstream: listen %s: %w", addr, err)
	}
	cn := &conn{c: c, v6: family == "udp6"}
	cn.kernelStamps = ntpserve.EnableRxTimestamps(c)
	return cn, nil
}
