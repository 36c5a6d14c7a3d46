package ctl

import (
	"net"
	"net/netip"
)

// AddressLine is the status view's line that tells a user where the
// board is: its LAN addresses, its mDNS name, and the address an NTP
// client should be given, e.g.
//
//	address 192.168.1.23, fd00::23  (gpsntp.local)  ntp: 192.168.1.23:123
//
// Addresses that do not fit 79 columns are left out ("+2").
func AddressLine(s *Snapshot) string {
	if len(s.Addresses) == 0 {
		return "address none: no network yet (plug in Ethernet; DHCP needed)"
	}
	tail := ""
	if s.MDNSName != "" {
		tail += "  (" + s.MDNSName + ")"
	}
	if ntp := NTPAddr(s.Addresses, s.Server.Listen); ntp != "" {
		tail += "  ntp: " + ntp
	}
	head := "address " + s.Addresses[0]
	for i, a := range s.Addresses[1:] {
		more := ""
		if left := len(s.Addresses) - 2 - i; left > 0 {
			more = " +" + itoa(left)
		}
		if len(head)+2+len(a)+len(more)+len(tail) > 79 {
			head += " +" + itoa(len(s.Addresses)-1-i)
			break
		}
		head += ", " + a
	}
	return head + tail
}

// NTPAddr is the address:port an NTP client is given: the first listen
// address if it names one, else the first of the board's addresses that
// the listener serves (a wildcard serves all of its family), with the
// listener's port.
func NTPAddr(addrs, listen []string) string {
	if len(listen) == 0 {
		return ""
	}
	host, port, err := net.SplitHostPort(listen[0])
	if err != nil {
		return ""
	}
	l, err := netip.ParseAddr(host)
	if host != "" && err == nil && !l.IsUnspecified() {
		return listen[0]
	}
	for _, s := range addrs {
		a, err := netip.ParseAddr(s)
		if err != nil {
			continue
		}
		// "[::]" serves IPv4 too on Linux (not IPV6_V6ONLY); "0.0.0.0"
		// IPv4 only.
		if host == "" || l.Is6() || a.Is4() {
			return net.JoinHostPort(a.String(), port)
		}
	}
	return ""
}
