package mdns

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
)

// Interface is one network interface and its addresses, as Interfaces
// reads them.
type Interface struct {
	Index     int
	Name      string
	Up        bool
	Loopback  bool
	Multicast bool
	Prefixes  []netip.Prefix
}

// Interfaces reads the machine's interfaces and their addresses
// (net.Interfaces: a netlink dump each call, cheap enough for a timer).
func Interfaces() ([]Interface, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("list network interfaces: %w", err)
	}
	out := make([]Interface, 0, len(ifs))
	for _, ifi := range ifs {
		in := Interface{Index: ifi.Index, Name: ifi.Name, Up: ifi.Flags&net.FlagUp != 0,
			Loopback: ifi.Flags&net.FlagLoopback != 0, Multicast: ifi.Flags&net.FlagMulticast != 0}
		addrs, err := ifi.Addrs()
		if err != nil {
			// Gone between the two calls: next time.
			continue
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(ipn.IP)
			if !ok {
				continue
			}
			ones, _ := ipn.Mask.Size()
			in.Prefixes = append(in.Prefixes, netip.PrefixFrom(ip.Unmap(), ones))
		}
		out = append(out, in)
	}
	return out, nil
}

// rank orders addresses by how useful they are to a user: LAN and global
// addresses first, then link-local, then loopback; -1 for none at all
// (unspecified, multicast).
func rank(a netip.Addr) int {
	switch {
	case !a.IsValid() || a.IsUnspecified() || a.IsMulticast():
		return -1
	case a.IsLoopback():
		return 2
	case a.IsLinkLocalUnicast():
		return 1
	}
	return 0
}

// Shown chooses the addresses to show a user and to answer mDNS with
// from those of ifs that are up: the global and private (ULA, RFC 1918)
// ones; link-local ones only when there are none of those (a laptop
// cabled straight to the board), loopback ones only when there is
// nothing else at all. IPv4 first, then interface order, no duplicates.
func Shown(ifs []Interface) []netip.Addr {
	var all []netip.Addr
	best := 3
	for _, in := range ifs {
		if !in.Up {
			continue
		}
		for _, p := range in.Prefixes {
			if a := p.Addr().Unmap(); rank(a) >= 0 && !slices.Contains(all, a) {
				all = append(all, a)
				best = min(best, rank(a))
			}
		}
	}
	var out []netip.Addr
	for _, v4 := range []bool{true, false} {
		for _, a := range all {
			if a.Is4() == v4 && rank(a) == best {
				out = append(out, a)
			}
		}
	}
	return out
}
