package mdns

import (
	"net/netip"
	"slices"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

const ourName = "gpsntp.local."

var ourAddrs = []netip.Addr{netip.MustParseAddr("192.168.1.23"), netip.MustParseAddr("fd00::23")}

// query packs a query: questions for name (type, QU bit), known answers.
func query(t testing.TB, id uint16, name string, qs []dnsmessage.Type, qu bool, known []netip.Addr, authority bool) []byte {
	n := dnsmessage.MustNewName(name)
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: id})
	b.StartQuestions()
	for _, ty := range qs {
		c := dnsmessage.ClassINET
		if qu {
			c |= classUnicast
		}
		if err := b.Question(dnsmessage.Question{Name: n, Type: ty, Class: c}); err != nil {
			t.Fatal(err)
		}
	}
	b.StartAnswers()
	for _, a := range known {
		rh := dnsmessage.ResourceHeader{Name: n, Class: dnsmessage.ClassINET | classCacheFlush, TTL: 119}
		if a.Is4() {
			rh.Type = dnsmessage.TypeA
			b.AResource(rh, dnsmessage.AResource{A: a.As4()})
		} else {
			rh.Type = dnsmessage.TypeAAAA
			b.AAAAResource(rh, dnsmessage.AAAAResource{AAAA: a.As16()})
		}
	}
	if authority {
		b.StartAuthorities()
		b.AResource(dnsmessage.ResourceHeader{Name: n, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, TTL: 120}, dnsmessage.AResource{A: [4]byte{10, 0, 0, 1}})
	}
	out, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestResponse(t *testing.T) {
	A, AAAA, ANY, TXT := dnsmessage.TypeA, dnsmessage.TypeAAAA, dnsmessage.TypeALL, dnsmessage.TypeTXT
	v4, v6 := ourAddrs[0], ourAddrs[1]
	for _, c := range []struct {
		name    string
		pkt     []byte
		port    uint16
		addrs   []netip.Addr
		noReply bool
		ans     []netip.Addr // in the answer section
		add     []netip.Addr // in the additional section
		legacy  bool
		nsec    bool
	}{
		{name: "A", pkt: query(t, 0, "gpsntp.local.", []dnsmessage.Type{A}, false, nil, false), port: 5353, addrs: ourAddrs, ans: []netip.Addr{v4}, add: []netip.Addr{v6}},
		{name: "AAAA, other case", pkt: query(t, 0, "GpsNtp.LOCAL.", []dnsmessage.Type{AAAA}, false, nil, false), port: 5353, addrs: ourAddrs, ans: []netip.Addr{v6}, add: []netip.Addr{v4}},
		{name: "ANY", pkt: query(t, 0, "gpsntp.local.", []dnsmessage.Type{ANY}, false, nil, false), port: 5353, addrs: ourAddrs, ans: ourAddrs},
		{name: "other name", pkt: query(t, 0, "gpsntp2.local.", []dnsmessage.Type{A}, false, nil, false), port: 5353, addrs: ourAddrs, noReply: true},
		{name: "other type", pkt: query(t, 0, "gpsntp.local.", []dnsmessage.Type{TXT}, false, nil, false), port: 5353, addrs: ourAddrs, noReply: true},
		{name: "known answer suppressed", pkt: query(t, 0, "gpsntp.local.", []dnsmessage.Type{A}, false, []netip.Addr{v4}, false), port: 5353, addrs: ourAddrs, noReply: true},
		{name: "one of two known", pkt: query(t, 0, "gpsntp.local.", []dnsmessage.Type{ANY}, false, []netip.Addr{v4}, false), port: 5353, addrs: ourAddrs, ans: []netip.Addr{v6}},
		{name: "AAAA without IPv6: NSEC", pkt: query(t, 0, "gpsntp.local.", []dnsmessage.Type{AAAA}, false, nil, false), port: 5353, addrs: ourAddrs[:1], add: []netip.Addr{v4}, nsec: true},
		{name: "no address yet", pkt: query(t, 0, "gpsntp.local.", []dnsmessage.Type{A}, false, nil, false), port: 5353, noReply: true},
		{name: "legacy", pkt: query(t, 0x1234, "gpsntp.local.", []dnsmessage.Type{A}, false, nil, false), port: 40000, addrs: ourAddrs, ans: []netip.Addr{v4}, add: []netip.Addr{v6}, legacy: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			q, ok := ParseQuery(c.pkt, ourName, c.port)
			var msg []byte
			if ok {
				msg = Response(q, ourName, c.addrs)
			}
			if c.noReply {
				if msg != nil {
					t.Fatalf("Response() = %d bytes, want no reply", len(msg))
				}
				return
			}
			if msg == nil {
				t.Fatalf("ParseQuery() ok=%v, Response() = nil, want a reply", ok)
			}
			var p dnsmessage.Parser
			h, err := p.Start(msg)
			if err != nil {
				t.Fatal(err)
			}
			qs, _ := p.AllQuestions()
			if !h.Response || !h.Authoritative {
				t.Errorf("header %+v: want a response, authoritative", h)
			}
			if c.legacy && (h.ID != 0x1234 || len(qs) != 1) {
				t.Errorf("legacy reply: ID %#x, %d questions, want the query's ID and question", h.ID, len(qs))
			}
			if !c.legacy && (h.ID != 0 || len(qs) != 0) {
				t.Errorf("multicast reply: ID %#x, %d questions, want 0 and none (RFC 6762 §18.1, §6)", h.ID, len(qs))
			}
			recs, _, ok := ParseResponse(msg, ourName)
			if !ok {
				t.Fatal("ParseResponse() not ok")
			}
			var ans, add []netip.Addr
			for _, r := range recs {
				wantTTL, wantFlush := uint32(TTLSeconds), true
				if c.legacy {
					wantTTL, wantFlush = legacyTTLSeconds, false
				}
				if r.TTL != wantTTL || r.CacheFlush != wantFlush {
					t.Errorf("record %v: TTL %d cache-flush %v, want %d %v", r.Addr, r.TTL, r.CacheFlush, wantTTL, wantFlush)
				}
				if r.Additional {
					add = append(add, r.Addr)
				} else {
					ans = append(ans, r.Addr)
				}
			}
			if !slices.Equal(ans, c.ans) || !slices.Equal(add, c.add) {
				t.Errorf("answers %v additional %v, want %v %v", ans, add, c.ans, c.add)
			}
			if got := hasNSEC(msg); got != c.nsec {
				t.Errorf("NSEC present = %v, want %v", got, c.nsec)
			}
		})
	}
}

func hasNSEC(msg []byte) bool {
	var p dnsmessage.Parser
	if _, err := p.Start(msg); err != nil {
		return false
	}
	p.SkipAllQuestions()
	for _, next := range []func() (dnsmessage.Resource, error){p.Answer, p.Authority, p.Additional} {
		for {
			r, err := next()
			if err != nil {
				break
			}
			if r.Header.Type == typeNSEC {
				u := r.Body.(*dnsmessage.UnknownResource)
				// next name gpsntp.local, window 0, 4 bytes, A only.
				want := append(wireName(ourName), 0, 4, 0x40, 0, 0, 0)
				return slices.Equal(u.Data, want)
			}
		}
	}
	return false
}

func TestParseQueryFlags(t *testing.T) {
	q, ok := ParseQuery(query(t, 0, ourName, []dnsmessage.Type{dnsmessage.TypeA}, true, nil, false), ourName, 5353)
	if !ok || !q.Unicast || q.Legacy || q.Probe {
		t.Errorf("QU query: ParseQuery() = %+v, %v; want Unicast only", q, ok)
	}
	q, ok = ParseQuery(query(t, 0, ourName, []dnsmessage.Type{dnsmessage.TypeALL}, false, nil, true), ourName, 5353)
	if !ok || q.Unicast || !q.Probe {
		t.Errorf("probe: ParseQuery() = %+v, %v; want Probe, not Unicast", q, ok)
	}
	// A response (our own announcement, looped back) is never a query.
	if _, ok := ParseQuery(Announcement(ourName, ourAddrs, TTLSeconds), ourName, 5353); ok {
		t.Error("ParseQuery(announcement) ok, want not a query")
	}
}

func TestShown(t *testing.T) {
	p := netip.MustParsePrefix
	lo := Interface{Index: 1, Name: "lo", Up: true, Loopback: true, Prefixes: []netip.Prefix{p("127.0.0.1/8"), p("::1/128")}}
	for _, c := range []struct {
		name string
		ifs  []Interface
		want string
	}{
		{"LAN", []Interface{lo, {Index: 2, Name: "eth0", Up: true, Prefixes: []netip.Prefix{p("fe80::1/64"), p("fd00::23/64"), p("192.168.1.23/24"), p("2001:db8::23/64")}}}, "[192.168.1.23 fd00::23 2001:db8::23]"},
		{"link-local only (laptop cabled to the board)", []Interface{lo, {Index: 2, Name: "eth0", Up: true, Prefixes: []netip.Prefix{p("fe80::1/64"), p("169.254.3.4/16")}}}, "[169.254.3.4 fe80::1]"},
		{"nothing but loopback", []Interface{lo}, "[127.0.0.1 ::1]"},
		{"down interface", []Interface{lo, {Index: 2, Name: "eth0", Prefixes: []netip.Prefix{p("192.168.1.23/24")}}}, "[127.0.0.1 ::1]"},
		{"two interfaces, one address twice", []Interface{{Index: 2, Up: true, Prefixes: []netip.Prefix{p("192.168.1.23/24")}}, {Index: 3, Up: true, Prefixes: []netip.Prefix{p("10.0.0.5/8"), p("192.168.1.23/24")}}}, "[192.168.1.23 10.0.0.5]"},
		{"none", nil, "[]"},
	} {
		if got := Shown(c.ifs); fmtAddrs(got) != c.want {
			t.Errorf("%s: Shown() = %v, want %s", c.name, got, c.want)
		}
	}
}

func fmtAddrs(a []netip.Addr) string {
	s := "["
	for i, x := range a {
		if i > 0 {
			s += " "
		}
		s += x.String()
	}
	return s + "]"
}

func TestHostLabel(t *testing.T) {
	for _, c := range []struct {
		in, want string
		ok       bool
	}{
		{"gpsntp", "gpsntp", true}, {"GPSNTP.example.com", "gpsntp", true}, {"pi-4", "pi-4", true},
		{"", "", false}, {"-x", "", false}, {"a_b", "", false}, {"caf\u00e9", "", false},
	} {
		got, ok := HostLabel(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("HostLabel(%q) = %q, %v, want %q, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

// FuzzMDNSQuery: any packet, parsed as a query from a 5353 or a legacy
// port, never panics; the reply, if any, is a well-formed response of
// bounded size whose records are all for our name and our addresses.
func FuzzMDNSQuery(f *testing.F) {
	A, AAAA, ANY := dnsmessage.TypeA, dnsmessage.TypeAAAA, dnsmessage.TypeALL
	f.Add(query(f, 0, ourName, []dnsmessage.Type{A}, false, nil, false), uint16(5353))
	f.Add(query(f, 7, ourName, []dnsmessage.Type{AAAA, A}, true, nil, false), uint16(40000))
	f.Add(query(f, 0, ourName, []dnsmessage.Type{ANY}, false, ourAddrs[:1], true), uint16(5353))
	f.Add(query(f, 0, "other.local.", []dnsmessage.Type{A}, false, nil, false), uint16(5353))
	f.Add(Announcement(ourName, ourAddrs, TTLSeconds), uint16(5353))
	f.Add([]byte{}, uint16(5353))
	f.Fuzz(func(t *testing.T, pkt []byte, port uint16) {
		q, ok := ParseQuery(pkt, ourName, port)
		if !ok {
			return
		}
		if len(q.Questions) > maxQuestions || len(q.Known) > maxKnownAnswers {
			t.Fatalf("ParseQuery kept %d questions, %d known answers: beyond the bounds", len(q.Questions), len(q.Known))
		}
		for _, qu := range q.Questions {
			if !sameName(qu.Name, ourName) {
				t.Fatalf("ParseQuery kept a question for %q", qu.Name.String())
			}
		}
		msg := Response(q, ourName, ourAddrs)
		if msg == nil {
			return
		}
		if len(msg) > MaxPacket {
			t.Fatalf("reply of %d bytes", len(msg))
		}
		var p dnsmessage.Parser
		if _, err := p.Start(msg); err != nil {
			t.Fatalf("reply does not parse: %v", err)
		}
		p.SkipAllQuestions()
		for _, next := range []func() (dnsmessage.Resource, error){p.Answer, p.Authority, p.Additional} {
			for {
				r, err := next()
				if err == dnsmessage.ErrSectionDone {
					break
				}
				if err != nil {
					t.Fatalf("reply record does not parse: %v", err)
				}
				if !sameName(r.Header.Name, ourName) {
					t.Fatalf("reply has a record for %q", r.Header.Name.String())
				}
				var a netip.Addr
				switch b := r.Body.(type) {
				case *dnsmessage.AResource:
					a = netip.AddrFrom4(b.A)
				case *dnsmessage.AAAAResource:
					a = netip.AddrFrom16(b.AAAA)
				}
				if a.IsValid() && !slices.Contains(ourAddrs, a) {
					t.Fatalf("reply gives address %v, not ours", a)
				}
			}
		}
	})
}
