package restrict

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Flags is a set of restrict flags.
type Flags uint32

// Restrict flags, with ntpd's meanings. Flags about features gpsntp does not
// implement (mode 6 traps, the MRU list) are accepted so existing ntp.conf
// lines work; they restrict something that cannot happen anyway.
const (
	// Ignore: drop every packet from the address, silently.
	Ignore Flags = 1 << iota
	// NoServe: no time service; only mode 6/7 queries would pass (gpsntp
	// answers none).
	NoServe
	// NoQuery: no mode 6/7 (ntpq/ntpdc) queries.
	NoQuery
	// NoModify: no mode 6/7 queries that change the server.
	NoModify
	// NoTrap: no mode 6 trap service.
	NoTrap
	// NoPeer: no mode 1 (symmetric active) packets, which would mobilise a
	// peer association.
	NoPeer
	// NoEPeer: no ephemeral peer associations (ntp 4.2.8); as NoPeer here.
	NoEPeer
	// KoD: send a kiss-o'-death RATE packet when Limited applies.
	KoD
	// Limited: apply the rate limits of the `discard` directive.
	Limited
	// LowPrioTrap, NoMRUList: accepted for compatibility, no effect.
	LowPrioTrap
	NoMRUList
	// NoTrust: only cryptographically authenticated packets are served.
	// gpsntp authenticates nothing, so this denies time service.
	NoTrust
	// Version: only packets of the current NTP version (4) are served.
	Version
)

var flagNames = []struct {
	name string
	flag Flags
}{
	{"ignore", Ignore},
	{"noserve", NoServe},
	{"noquery", NoQuery},
	{"nomodify", NoModify},
	{"notrap", NoTrap},
	{"nopeer", NoPeer},
	{"noepeer", NoEPeer},
	{"kod", KoD},
	{"limited", Limited},
	{"lowpriotrap", LowPrioTrap},
	{"nomrulist", NoMRUList},
	{"notrust", NoTrust},
	{"version", Version},
}

// String lists the flags as ntp.conf spells them, space separated.
func (f Flags) String() string {
	var b strings.Builder
	for _, n := range flagNames {
		if f&n.flag != 0 {
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(n.name)
		}
	}
	return b.String()
}

// Rule is one `restrict` directive.
type Rule struct {
	// Prefix is the address and mask matched. For `restrict default` it is
	// 0.0.0.0/0 and/or ::/0 (see Default).
	Prefix netip.Prefix
	// Default: the line was `restrict default`; without -4 or -6 it applies
	// to both families and ParseRestrict returns it with Prefix 0.0.0.0/0
	// and Both set.
	Default bool
	// Both: applies to ::/0 as well as to Prefix (only for `restrict default`
	// without -4/-6).
	Both  bool
	Flags Flags
}

// String is the rule as ParseRestrict reads it back: the words after
// "restrict", in canonical form (a prefix as ADDR/BITS).
func (r Rule) String() string {
	var b strings.Builder
	switch {
	case r.Default && r.Both:
		b.WriteString("default")
	case r.Default && r.Prefix.Addr().Is6():
		b.WriteString("-6 default")
	case r.Default:
		b.WriteString("-4 default")
	default:
		b.WriteString(r.Prefix.String())
	}
	if r.Flags != 0 {
		b.WriteByte(' ')
		b.WriteString(r.Flags.String())
	}
	return b.String()
}

// ParseRestrict parses the arguments of one `restrict` directive (the words
// after "restrict"):
//
//	[-4|-6] default FLAG...
//	[-4|-6] ADDR [mask MASK] FLAG...
//	[-4|-6] ADDR/BITS FLAG...
//
// ADDR is an IPv4 or IPv6 literal; a host address without a mask matches
// that host only. Host names are not resolved. An IPv4-mapped IPv6 host
// address (::ffff:192.0.2.1) is taken as the IPv4 address; an IPv4-mapped
// prefix is refused with its IPv4 spelling, since IPv4 clients match only
// IPv4 rules. `kod` without `limited` is refused: ntpd sends a KoD only
// to clients the `limited` rate limit catches, so alone it does nothing.
//
// Errors say what was expected and leave the prefix to the caller, which
// adds file:line and "restrict: "; they do not repeat "restrict".
func ParseRestrict(args []string) (Rule, error) {
	var r Rule
	fam := 0
	if len(args) > 0 && (args[0] == "-4" || args[0] == "-6") {
		fam = 4
		if args[0] == "-6" {
			fam = 6
		}
		args = args[1:]
	}
	if len(args) == 0 {
		return r, fmt.Errorf("want \"default\", an address or a prefix")
	}
	target := args[0]
	args = args[1:]
	switch {
	case target == "default":
		r.Default = true
		switch fam {
		case 6:
			r.Prefix = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
		default:
			r.Prefix = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
			r.Both = fam == 0
		}
	case target == "source":
		return r, fmt.Errorf("source: `restrict source` applies to the associations of `server` and `pool` lines, " +
			"which gpsntpd keeps apart from serving: its client only takes replies to its own requests (a random nonce), and those servers are served like any client: remove the line")
	case strings.Contains(target, "/"):
		p, err := netip.ParsePrefix(target)
		if err != nil {
			return r, fmt.Errorf("bad prefix %q: want ADDR/BITS such as 192.0.2.0/24", target)
		}
		r.Prefix = p.Masked()
		if a := r.Prefix.Addr(); a.Is4In6() {
			// IPv4 clients are looked up (unmapped) in the IPv4 rules,
			// so this rule would never match one.
			v4 := netip.PrefixFrom(a.Unmap(), r.Prefix.Bits()-96)
			return r, fmt.Errorf("prefix %s is IPv4-mapped, which no client matches: IPv4 clients match IPv4 rules; write it as %s", target, v4)
		}
	default:
		a, err := netip.ParseAddr(target)
		if err != nil {
			return r, fmt.Errorf("bad address %q: want \"default\", an IPv4 or IPv6 address (host names are not resolved) or ADDR/BITS", target)
		}
		if a.Zone() != "" {
			return r, fmt.Errorf("address %q: zones are not supported", target)
		}
		a = a.Unmap()
		bits := a.BitLen()
		if len(args) > 0 && args[0] == "mask" {
			if len(args) < 2 {
				return r, fmt.Errorf("%s: want a mask after \"mask\"", target)
			}
			m, err := netip.ParseAddr(args[1])
			if err != nil {
				return r, fmt.Errorf("%s: bad mask %q: want a mask such as 255.255.255.0 or ffff:ffff::", target, args[1])
			}
			m = m.Unmap()
			if m.BitLen() != a.BitLen() {
				return r, fmt.Errorf("%s: mask %s is of the other address family", target, args[1])
			}
			bits, err = maskBits(m)
			if err != nil {
				return r, fmt.Errorf("%s: mask %s: %v", target, args[1], err)
			}
			args = args[2:]
		}
		r.Prefix = netip.PrefixFrom(a, bits).Masked()
	}
	if !r.Default && (fam == 4 && !r.Prefix.Addr().Is4() || fam == 6 && !r.Prefix.Addr().Is6()) {
		return r, fmt.Errorf("-%d %s: address is of the other family", fam, target)
	}
	for _, w := range args {
		f, ok := parseFlag(w)
		if !ok {
			return r, fmt.Errorf("%s: unknown flag %q: want one of %s", target, w, allFlags())
		}
		r.Flags |= f
	}
	if r.Flags&KoD != 0 && r.Flags&Limited == 0 {
		return r, fmt.Errorf("%s: kod without limited does nothing: ntpd sends a kiss-o'-death only to clients "+
			"that the `limited` rate limit (see `discard`) catches; add limited, or remove kod", target)
	}
	return r, nil
}

func parseFlag(w string) (Flags, bool) {
	for _, n := range flagNames {
		if n.name == w {
			return n.flag, true
		}
	}
	return 0, false
}

func allFlags() string {
	names := make([]string, len(flagNames))
	for i, n := range flagNames {
		names[i] = n.name
	}
	return strings.Join(names, ", ")
}

// maskBits returns the prefix length of a contiguous mask.
func maskBits(m netip.Addr) (int, error) {
	b := m.AsSlice()
	bits := 0
	seenZero := false
	for _, x := range b {
		for i := 7; i >= 0; i-- {
			if x>>i&1 == 1 {
				if seenZero {
					return 0, fmt.Errorf("not a contiguous mask")
				}
				bits++
			} else {
				seenZero = true
			}
		}
	}
	return bits, nil
}

// Discard holds the `discard` directive's limits (ntpsec access.adoc):
// average headway 2^AverageLog2 s (default 3: 8 s) and minimum spacing
// MinimumS s (default 2). Rate limiting applies only to addresses whose
// restrict rule has `limited`.
type Discard struct {
	AverageLog2 int // log2 s; ntpd default 3
	MinimumS    int // s; ntpd default 2
}

// DefaultDiscard is ntpd's `discard average 3 minimum 2`.
var DefaultDiscard = Discard{AverageLog2: 3, MinimumS: 2}

// ParseDiscard parses the arguments of one `discard` directive (the words
// after "discard"): any of `average A` (log2 s, 0..16), `minimum M` (s,
// 0..64) and `monitor N` (accepted and ignored: ntpd's MRU monitor knob).
// Values not given keep the defaults.
// As ParseRestrict's, its errors leave "discard: " to the caller.
func ParseDiscard(args []string) (Discard, error) {
	d := DefaultDiscard
	if len(args) == 0 {
		return d, fmt.Errorf("want \"average A\", \"minimum M\" or \"monitor N\"")
	}
	for len(args) > 0 {
		key := args[0]
		if len(args) < 2 {
			return d, fmt.Errorf("%s: want a number after %q", key, key)
		}
		v, err := strconv.Atoi(args[1])
		if err != nil {
			return d, fmt.Errorf("%s: bad number %q", key, args[1])
		}
		switch key {
		case "average":
			if v < 0 || v > 16 {
				return d, fmt.Errorf("average %d: want log2 seconds 0..16 (3 = 8 s)", v)
			}
			d.AverageLog2 = v
		case "minimum":
			if v < 0 || v > 64 {
				return d, fmt.Errorf("minimum %d: want seconds 0..64", v)
			}
			d.MinimumS = v
		case "monitor":
			if v < 0 {
				return d, fmt.Errorf("monitor %d: want a non-negative number", v)
			}
		default:
			return d, fmt.Errorf("unknown option %q: want average, minimum or monitor", key)
		}
		args = args[2:]
	}
	return d, nil
}

type entry struct {
	prefix netip.Prefix
	flags  Flags
}

// Table is a compiled set of rules. The zero value and nil allow everything
// without limits, as ntpd does with no restrict lines.
type Table struct {
	v4, v6     []entry // most specific first, defaults excluded
	def4, def6 Flags
}

// NewTable compiles rules. Rules for the same prefix merge their flags.
func NewTable(rules []Rule) *Table {
	t := &Table{}
	merged := map[netip.Prefix]Flags{}
	for _, r := range rules {
		if r.Default {
			if r.Prefix.Addr().Is4() || r.Both {
				t.def4 |= r.Flags
			}
			if r.Prefix.Addr().Is6() || r.Both {
				t.def6 |= r.Flags
			}
			continue
		}
		merged[r.Prefix] |= r.Flags
	}
	for p, f := range merged {
		e := entry{p, f}
		if p.Addr().Is4() {
			t.v4 = append(t.v4, e)
		} else {
			t.v6 = append(t.v6, e)
		}
	}
	order := func(a, b entry) int {
		if c := b.prefix.Bits() - a.prefix.Bits(); c != 0 {
			return c
		}
		return a.prefix.Addr().Compare(b.prefix.Addr())
	}
	slices.SortFunc(t.v4, order)
	slices.SortFunc(t.v6, order)
	return t
}

// Lookup returns the flags for source address a: those of the most specific
// matching rule, else of the default. IPv4-mapped IPv6 addresses match IPv4
// rules.
func (t *Table) Lookup(a netip.Addr) Flags {
	if t == nil {
		return 0
	}
	a = a.Unmap()
	es, def := t.v6, t.def6
	if a.Is4() {
		es, def = t.v4, t.def4
	}
	for i := range es {
		if es[i].prefix.Contains(a) {
			return es[i].flags
		}
	}
	return def
}
