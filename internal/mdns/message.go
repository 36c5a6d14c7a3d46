package mdns

import (
	"net/netip"
	"strings"

	"golang.org/x/net/dns/dnsmessage"
)

// TTLSeconds is the TTL of our address records: RFC 6762 §10 recommends
// 120 s for records that carry a host name. Answers to a legacy resolver
// (a query from a port other than 5353) carry at most legacyTTLSeconds
// (§6.7).
const (
	TTLSeconds       = 120
	legacyTTLSeconds = 10
)

// Port is the mDNS port; a query from any other is a legacy one (§6.7).
const Port = 5353

// The top bit of a question's class asks for a unicast reply ("QU",
// RFC 6762 §5.4); the top bit of a record's class says the record is
// unique and older copies must be flushed from caches (§10.2).
const (
	classUnicast    = 1 << 15
	classCacheFlush = 1 << 15
)

// typeNSEC is the NSEC record type (RFC 4034), which dnsmessage does not
// name: how a responder says it has no record of a type (RFC 6762 §6.1).
const typeNSEC dnsmessage.Type = 47

// Bounds on the work a packet can cause: a hostile packet is dropped, not
// followed.
const (
	// MaxPacket is the largest mDNS message (RFC 6762 §17: 9000 bytes);
	// a larger datagram is cut and fails to parse.
	MaxPacket = 9000
	// maxQuestions and maxKnownAnswers are the most questions and
	// known answers of one query read; the rest are ignored.
	maxQuestions    = 32
	maxKnownAnswers = 64
)

// Query is what one query asks of us, as ParseQuery reads it.
type Query struct {
	ID uint16
	// Legacy: the query came from a port other than 5353, a one-shot
	// resolver that wants a plain DNS reply (RFC 6762 §6.7).
	Legacy bool
	// A, AAAA: our A or AAAA records were asked for (or ANY).
	A, AAAA bool
	// Unicast: every question for our name had the QU bit (§5.4).
	Unicast bool
	// Probe: the query has an authority section, as probes do (§8.1).
	Probe bool
	// Known are our addresses the querier listed as known answers with
	// at least half the TTL left: not repeated (§7.1).
	Known []netip.Addr
	// Questions are the questions for our name, echoed to a legacy
	// querier.
	Questions []dnsmessage.Question
}

// canonical is name as a fully qualified, lower-case DNS name.
func canonical(name string) string {
	name = strings.ToLower(name)
	if !strings.HasSuffix(name, ".") {
		name += "."
	}
	return name
}

// sameName says whether a name on the wire is ours (DNS names compare
// without regard to ASCII case).
func sameName(n dnsmessage.Name, ours string) bool {
	return strings.EqualFold(n.String(), ours)
}

// ParseQuery reads an mDNS query and says what it asks of name (fully
// qualified, "gpsntp.local."). ok is false when there is nothing to
// answer: not a well-formed standard query (§18), or no question for our
// name's A, AAAA or ANY records in class IN. srcPort is the querier's
// UDP port (legacy when not 5353).
func ParseQuery(pkt []byte, name string, srcPort uint16) (q Query, ok bool) {
	name = canonical(name)
	var p dnsmessage.Parser
	h, err := p.Start(pkt)
	// Responses, opcodes other than QUERY and non-zero rcodes are
	// ignored (RFC 6762 §18.2, §18.3, §18.11).
	if err != nil || h.Response || h.OpCode != 0 || h.RCode != dnsmessage.RCodeSuccess {
		return Query{}, false
	}
	q.ID, q.Legacy = h.ID, srcPort != Port
	q.Unicast = true
	for i := 0; ; i++ {
		qu, err := p.Question()
		if err == dnsmessage.ErrSectionDone {
			break
		}
		if err != nil || i >= maxQuestions {
			// A damaged question: answer what came before it, which
			// was well formed.
			break
		}
		class := qu.Class &^ classUnicast
		if !sameName(qu.Name, name) || (class != dnsmessage.ClassINET && class != dnsmessage.ClassANY) {
			continue
		}
		switch qu.Type {
		case dnsmessage.TypeA:
			q.A = true
		case dnsmessage.TypeAAAA:
			q.AAAA = true
		case dnsmessage.TypeALL:
			q.A, q.AAAA = true, true
		default:
			continue
		}
		q.Unicast = q.Unicast && qu.Class&classUnicast != 0
		q.Questions = append(q.Questions, qu)
	}
	if !q.A && !q.AAAA {
		return Query{}, false
	}
	// Known answers (§7.1): ours with at least half our TTL left are not
	// repeated. A damaged section ends the list, keeping the query.
	if err := p.SkipAllQuestions(); err == nil {
		for i := 0; i < maxKnownAnswers; i++ {
			rh, err := p.AnswerHeader()
			if err != nil {
				break
			}
			if !sameName(rh.Name, name) || rh.TTL < TTLSeconds/2 || rh.Class&^classCacheFlush != dnsmessage.ClassINET {
				if p.SkipAnswer() != nil {
					break
				}
				continue
			}
			switch rh.Type {
			case dnsmessage.TypeA:
				r, err := p.AResource()
				if err != nil {
					break
				}
				q.Known = append(q.Known, netip.AddrFrom4(r.A))
				continue
			case dnsmessage.TypeAAAA:
				r, err := p.AAAAResource()
				if err != nil {
					break
				}
				q.Known = append(q.Known, netip.AddrFrom16(r.AAAA))
				continue
			default:
				if p.SkipAnswer() == nil {
					continue
				}
			}
			break
		}
		if p.SkipAllAnswers() == nil {
			_, err := p.AuthorityHeader()
			q.Probe = err == nil
		}
	}
	return q, true
}

// Response is the reply to q for name with our addresses on the
// interface the query came in on: the records asked for (those the
// querier already knows left out), the other family's in the additional
// section (§6.2), and an NSEC record when asked for a family we have no
// address of (§6.1). A multicast reply has ID 0 and no questions, its
// records the cache-flush bit (§6, §10.2, §18.1); a legacy one (§6.7)
// echoes the ID and questions, without cache-flush bits, with a TTL of at
// most 10 s. nil: nothing to say (everything already known).
func Response(q Query, name string, addrs []netip.Addr) []byte {
	name = canonical(name)
	var a4, a6 []netip.Addr
	for _, a := range addrs {
		if a.Is4() || a.Is4In6() {
			a4 = append(a4, a.Unmap())
		} else {
			a6 = append(a6, a)
		}
	}
	known := func(a netip.Addr) bool {
		for _, k := range q.Known {
			if k.Unmap() == a {
				return true
			}
		}
		return false
	}
	var ans, add []netip.Addr
	nsec := false
	for _, fam := range []struct {
		asked bool
		addrs []netip.Addr
	}{{q.A, a4}, {q.AAAA, a6}} {
		if !fam.asked {
			add = append(add, fam.addrs...)
			continue
		}
		if len(fam.addrs) == 0 {
			nsec = true
		}
		for _, a := range fam.addrs {
			if !known(a) {
				ans = append(ans, a)
			}
		}
	}
	if len(ans) == 0 && !nsec {
		return nil
	}
	if nsec && len(ans) == 0 && len(a4)+len(a6) == 0 {
		// No address at all: nothing to assert yet.
		return nil
	}
	ttl, class := uint32(TTLSeconds), dnsmessage.ClassINET|classCacheFlush
	hdr := dnsmessage.Header{Response: true, Authoritative: true}
	var qs []dnsmessage.Question
	if q.Legacy {
		ttl, class = legacyTTLSeconds, dnsmessage.ClassINET
		hdr.ID, qs = q.ID, q.Questions
	}
	m := message{name: name, ttl: ttl, class: class}
	return m.build(hdr, qs, ans, add, nsec, a4, a6)
}

// Announcement is the unsolicited response that announces (ttl
// TTLSeconds, §8.3) or withdraws (ttl 0, a goodbye, §10.1) addrs as
// name's.
func Announcement(name string, addrs []netip.Addr, ttl uint32) []byte {
	m := message{name: canonical(name), ttl: ttl, class: dnsmessage.ClassINET | classCacheFlush}
	return m.build(dnsmessage.Header{Response: true, Authoritative: true}, nil, addrs, nil, false, nil, nil)
}

type message struct {
	name  string
	ttl   uint32
	class dnsmessage.Class
}

// build packs a response; an error is impossible for the names and
// counts we give it (a valid name, at most a few dozen addresses), so it
// returns nil rather than a half-built message.
func (m message) build(hdr dnsmessage.Header, qs []dnsmessage.Question, ans, add []netip.Addr, nsec bool, a4, a6 []netip.Addr) []byte {
	n, err := dnsmessage.NewName(m.name)
	if err != nil {
		return nil
	}
	b := dnsmessage.NewBuilder(make([]byte, 0, 512), hdr)
	b.EnableCompression()
	if b.StartQuestions() != nil {
		return nil
	}
	for _, q := range qs {
		if b.Question(q) != nil {
			return nil
		}
	}
	if b.StartAnswers() != nil || m.records(&b, n, ans) != nil {
		return nil
	}
	if b.StartAdditionals() != nil || m.records(&b, n, add) != nil {
		return nil
	}
	if nsec {
		// RFC 6762 §6.1: the NSEC's next-domain name is our own name,
		// its bitmap the types we have (window 0: A is type 1, AAAA 28).
		var bitmap [4]byte
		if len(a4) > 0 {
			bitmap[0] |= 0x80 >> 1
		}
		if len(a6) > 0 {
			bitmap[3] |= 0x80 >> (28 % 8)
		}
		data := append(wireName(m.name), 0, byte(len(bitmap)))
		data = append(data, bitmap[:]...)
		rh := dnsmessage.ResourceHeader{Name: n, Type: typeNSEC, Class: m.class, TTL: m.ttl}
		if b.UnknownResource(rh, dnsmessage.UnknownResource{Type: typeNSEC, Data: data}) != nil {
			return nil
		}
	}
	out, err := b.Finish()
	if err != nil {
		return nil
	}
	return out
}

func (m message) records(b *dnsmessage.Builder, n dnsmessage.Name, addrs []netip.Addr) error {
	for _, a := range addrs {
		rh := dnsmessage.ResourceHeader{Name: n, Class: m.class, TTL: m.ttl}
		var err error
		if a.Is4() || a.Is4In6() {
			rh.Type = dnsmessage.TypeA
			err = b.AResource(rh, dnsmessage.AResource{A: a.Unmap().As4()})
		} else {
			rh.Type = dnsmessage.TypeAAAA
			err = b.AAAAResource(rh, dnsmessage.AAAAResource{AAAA: a.As16()})
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// wireName is a fully qualified name in uncompressed wire form (NSEC
// rdata names are never compressed, RFC 4034 §4.1.1).
func wireName(name string) []byte {
	var out []byte
	for _, l := range strings.Split(strings.TrimSuffix(name, "."), ".") {
		out = append(out, byte(len(l)))
		out = append(out, l...)
	}
	return append(out, 0)
}

// Record is one address record for a name in a response.
type Record struct {
	Addr       netip.Addr
	TTL        uint32
	CacheFlush bool
	Additional bool // in the additional section
}

// ParseResponse returns the A and AAAA records for name in a response
// (answers and additionals, at most maxKnownAnswers of each); ok false if
// pkt is not a response.
func ParseResponse(pkt []byte, name string) (recs []Record, id uint16, ok bool) {
	name = canonical(name)
	var p dnsmessage.Parser
	h, err := p.Start(pkt)
	if err != nil || !h.Response {
		return nil, 0, false
	}
	if p.SkipAllQuestions() != nil {
		return nil, h.ID, true
	}
	for _, sec := range []struct {
		header func() (dnsmessage.ResourceHeader, error)
		skip   func() error
		add    bool
	}{{p.AnswerHeader, p.SkipAnswer, false}, {nil, nil, true}} {
		if sec.add {
			if p.SkipAllAnswers() != nil || p.SkipAllAuthorities() != nil {
				break
			}
			sec.header, sec.skip = p.AdditionalHeader, p.SkipAdditional
		}
		for i := 0; i < maxKnownAnswers; i++ {
			rh, err := sec.header()
			if err != nil {
				break
			}
			r := Record{TTL: rh.TTL, CacheFlush: rh.Class&classCacheFlush != 0, Additional: sec.add}
			switch {
			case !sameName(rh.Name, name) || rh.Class&^classCacheFlush != dnsmessage.ClassINET:
				err = sec.skip()
			case rh.Type == dnsmessage.TypeA:
				var a dnsmessage.AResource
				if a, err = p.AResource(); err == nil {
					r.Addr = netip.AddrFrom4(a.A)
				}
			case rh.Type == dnsmessage.TypeAAAA:
				var a dnsmessage.AAAAResource
				if a, err = p.AAAAResource(); err == nil {
					r.Addr = netip.AddrFrom16(a.AAAA)
				}
			default:
				err = sec.skip()
			}
			if err != nil {
				break
			}
			if r.Addr.IsValid() {
				recs = append(recs, r)
			}
		}
	}
	return recs, h.ID, true
}
