package ntpserve

import (
	"encoding/binary"
	"math"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/gpsntp/gpsntp/discipline"
)

// Mode 6 (ntpq's control messages: RFC 1305 appendix B, RFC 9327), read
// only, answered the way ntpd answers so that ntpsec's ntpq (-p, -c rv,
// -c as) and the monitoring plugins (check_ntp_peer) work unchanged.
//
// Only READSTAT and READVAR are answered with data. Every other opcode
// gets ntpd's 12-byte error reply (never larger than the request, which is
// at least a 12-byte header), or nothing when the packet is not a request
// at all. Replies go out only to addresses whose restrict rule lifts
// noquery (handle decides that) and through a fixed-memory rate limiter.

// ControlSource is what mode 6 reports besides the served Reference
// (leap, stratum, refid, root delay and dispersion, offset, jitter and
// frequency come from the discipline's snapshot, exactly as the NTP replies
// describe them): the associations and a few system facts. It must be safe
// for concurrent use; it is called once per answered request.
type ControlSource interface {
	ControlStatus() ControlStatus
}

// ControlStatus is the system's view for mode 6 at one moment.
type ControlStatus struct {
	// Version, Processor and System are ntpd's `version`, `processor`
	// (machine) and `system` (kernel name/release) strings.
	Version, Processor, System string
	// PollLog2 and MinPollLog2 are the system poll exponent (`tc`) and
	// its minimum (`mintc`), log2 s.
	PollLog2, MinPollLog2 int8
	// WanderPPM is the frequency wander (`clk_wander`), ppm.
	WanderPPM float64
	// Peers are the associations: refclocks first, then upstream servers.
	Peers []ControlPeer
}

// Select is a peer's selection status (RFC 9327 section 2.3.1, ntpd's
// CTL_PST_SEL_*), the tally code ntpq -p prints before each row.
type Select uint8

const (
	SelReject      Select = iota // ' ' rejected (unreachable, no sample, noselect)
	SelFalseticker               // 'x' outside the truechimers' intersection
	SelExcess                    // '.' excess: culled by the cluster limit
	SelOutlier                   // '-' discarded by the cluster algorithm
	SelCandidate                 // '+' combined
	SelBackup                    // '#' selected, not combined
	SelSysPeer                   // '*' system peer
	SelPPSPeer                   // 'o' PPS peer (the system peer, through PPS)
)

// SelectFromTally maps ntpq's tally character to a Select (unknown: SelReject).
func SelectFromTally(c byte) Select {
	for i := range len(tallies) {
		if tallies[i] == c {
			return Select(i)
		}
	}
	return SelReject
}

const tallies = " x.-+#*o"

// ClockSource is the system status word's clock source (ntpd's
// CTL_SST_TS_*): what kind of source the system peer is.
type ClockSource uint8

const (
	ClockUnspec ClockSource = 0 // sync_unspec
	ClockPPS    ClockSource = 1 // sync_pps (CTL_SST_TS_ATOM)
	ClockGPS    ClockSource = 4 // sync_uhf_radio (CTL_SST_TS_UHF, as ntpd's NMEA driver)
	ClockNTP    ClockSource = 6 // sync_ntp: an upstream server
)

// ControlPeer is one association. Times are ns since the Unix epoch in
// served time, durations ns.
type ControlPeer struct {
	// AssocID is nonzero and stays the same while the association lives:
	// ntpq reads the list (READSTAT) and then each association by ID.
	AssocID uint16
	Select  Select
	// Name is a refclock's name as ntpd shows it in `srchost`
	// ("GPS_NMEA(0)", "PPS(0)": ntpq -p prints it and types the row 'l'),
	// or an upstream's configured host name; "" for none.
	Name string
	// Addr is an upstream's address, or a refclock's 127.127.T.U pseudo
	// address (ntpd's convention; ntpq then shows Name).
	Addr  netip.AddrPort
	Clock ClockSource
	// Leap is the source's leap indicator (0..3).
	Leap          uint8
	Stratum       uint8
	PrecisionLog2 int8
	RootDelayNs   int64
	RootDispNs    int64
	// RefID as ntpq shows it: text for stratum 0/1 ("GPS", "PPS"), a
	// dotted address above.
	RefID string
	// Reach is the reachability register (one bit per poll, newest in
	// bit 0).
	Reach    uint8
	PollLog2 int8
	// LastNs is when the last sample arrived (ntpd's `rec`; ntpq -p's
	// `when`), 0 if never. RefTimeNs is the source's reference time, 0 if
	// unknown.
	LastNs, RefTimeNs int64
	// OffsetNs is in ntpq's sign: the source's time minus ours (positive:
	// our clock is behind it).
	OffsetNs     float64
	DelayNs      float64
	DispersionNs float64
	JitterNs     float64
}

// Control message header fields (RFC 9327 section 2, ntpd's ntp_control.h).
const (
	ctlHeaderLen = 12
	// ctlMaxData is ntpd's CTL_MAX_DATA_LEN: data bytes per fragment, so a
	// fragment is at most 480 bytes (check_ntp_peer reads no more).
	ctlMaxData = 468
	// ctlMaxFrags bounds a reply (ntpq accepts 32 fragments).
	ctlMaxFrags = 16

	ctlResponse = 0x80
	ctlError    = 0x40
	ctlMore     = 0x20
	ctlOpMask   = 0x1f
)

// Opcodes (RFC 9327 section 2.1; ntpsec's ntp_control.h).
const (
	opReadStat   = 1
	opReadVar    = 2
	opWriteVar   = 3
	opReadClock  = 4
	opWriteClock = 5
	opSetTrap    = 6
	opAsyncMsg   = 7
	opConfigure  = 8
	opSaveConfig = 9
	opReadMRU    = 10
	opReadOrdA   = 11
	opReqNonce   = 12
	opUnsetTrap  = 31
)

// Error codes, in the high byte of an error reply's status (ntpd's CERR_*).
const (
	errUnspec     = 0
	errPermission = 1
	errBadFmt     = 2
	errBadOp      = 3
	errBadAssoc   = 4
	errUnknownVar = 5
	errBadValue   = 6
)

// controlRate is the mode 6 reply limiter shared by the process's servers
// (fixed memory; see controlLimiter). A process runs one Server.
var controlRate controlLimiter

// monoStart anchors the limiter's clock: it needs elapsed time, not the
// served time (which a step may move).
var monoStart = time.Now()

// control answers one mode 6 request from src (whose restrict rule lifts
// noquery), calling send for each reply fragment, and returns the outcome
// to count.
func (h *handler) control(req []byte, src netip.Addr, send func(reply []byte)) Outcome {
	return h.controlAt(req, src, int64(time.Since(monoStart)), &controlRate, send)
}

// controlAt is control with the limiter and its clock (monotonic ns)
// given.
func (h *handler) controlAt(req []byte, src netip.Addr, monoNs int64, lim *controlLimiter, send func([]byte)) Outcome {
	if _, ok := parseControlRequest(req); !ok {
		return OutDropMalformed
	}
	if !lim.allow(src, monoNs) {
		return OutDropRate
	}
	var st ControlStatus
	if h.ctl != nil {
		st = h.ctl.ControlStatus()
	}
	return answerControl(req, h.ref.Load(), h.clock.Now(), &st, send)
}

// ctlRequest is a parsed mode 6 request header.
type ctlRequest struct {
	vn      uint8
	op      uint8
	seq     uint16
	assocID uint16
	data    []byte // the request's data (count bytes)
}

// parseControlRequest checks a request as ntpd does (ntp_control.c
// process_control): a header, mode 6, not a response, error or more
// fragment, offset 0, and count within the datagram. What fails gets no
// reply at all.
func parseControlRequest(req []byte) (ctlRequest, bool) {
	var r ctlRequest
	if len(req) < ctlHeaderLen || req[0]&7 != ModeControl {
		return r, false
	}
	r.vn = req[0] >> 3 & 7
	if r.vn < 1 || r.vn > 4 {
		return r, false
	}
	if req[1]&(ctlResponse|ctlError|ctlMore) != 0 {
		return r, false // never answer a response: no loops between servers
	}
	r.op = req[1] & ctlOpMask
	r.seq = binary.BigEndian.Uint16(req[2:])
	r.assocID = binary.BigEndian.Uint16(req[6:])
	offset := binary.BigEndian.Uint16(req[8:])
	count := int(binary.BigEndian.Uint16(req[10:]))
	if offset != 0 || count > len(req)-ctlHeaderLen || count > ctlMaxData {
		return r, false
	}
	r.data = req[ctlHeaderLen : ctlHeaderLen+count]
	return r, true
}

// answerControl builds and sends the reply to a request that
// parseControlRequest accepted: the pure core of mode 6. ref is the served
// snapshot (nil: unsynchronised), nowNs the served time.
func answerControl(req []byte, ref *discipline.Reference, nowNs int64, st *ControlStatus, send func([]byte)) Outcome {
	r, ok := parseControlRequest(req)
	if !ok {
		return OutDropMalformed
	}
	leap := uint8(discipline.LeapAlarm)
	if ref != nil && ref.Synchronised {
		leap = uint8(ref.Leap)
	}
	rp := ctlReply{r: r, leap: leap, send: send}
	switch r.op {
	case opReadStat:
		if r.assocID == 0 {
			rp.status = sysStatus(ref, st)
			var pair [4]byte
			for i := range st.Peers {
				p := &st.Peers[i]
				binary.BigEndian.PutUint16(pair[0:], p.AssocID)
				binary.BigEndian.PutUint16(pair[2:], peerStatus(p))
				rp.data = append(rp.data, pair[:]...)
			}
			return rp.flush()
		}
		// ntpd answers READSTAT of one association with all its variables.
		p := findPeer(st, r.assocID)
		if p == nil {
			return rp.fail(errBadAssoc)
		}
		rp.status = peerStatus(p)
		return rp.vars(nil, func(b []byte, name string) ([]byte, bool) { return peerVar(b, name, p) }, peerVarNames)
	case opReadVar:
		if r.assocID == 0 {
			rp.status = sysStatus(ref, st)
			return rp.vars(r.data, func(b []byte, name string) ([]byte, bool) { return sysVar(b, name, ref, nowNs, st) }, sysVarNames)
		}
		p := findPeer(st, r.assocID)
		if p == nil {
			return rp.fail(errBadAssoc)
		}
		rp.status = peerStatus(p)
		return rp.vars(r.data, func(b []byte, name string) ([]byte, bool) { return peerVar(b, name, p) }, peerVarNames)
	case opWriteVar, opWriteClock, opConfigure, opSaveConfig, opReadOrdA:
		// ntpd requires authentication for these; we have no keys to
		// offer, so they are refused as ntpd refuses an unauthenticated
		// request.
		return rp.fail(errPermission)
	case opAsyncMsg:
		// Sent by servers, never to them.
		return OutDropMalformed
	default:
		// READCLOCK (no clock variables here), traps (ntpsec dropped
		// them: a reflection vector), READ_MRU and its nonce (the nonce
		// reply would be larger than its request), unknown opcodes.
		return rp.fail(errBadOp)
	}
}

func findPeer(st *ControlStatus, id uint16) *ControlPeer {
	for i := range st.Peers {
		if st.Peers[i].AssocID == id {
			return &st.Peers[i]
		}
	}
	return nil
}

// sysStatus is the system status word (RFC 9327 section 2.2.1): leap
// indicator, clock source (the system peer's kind), event counter and last
// event. We keep no event log in this form: a synchronised server reports
// one clock_sync event (ntpd's EVNT_SYNC, 5), otherwise none.
func sysStatus(ref *discipline.Reference, st *ControlStatus) uint16 {
	leap, src, count, event := uint16(discipline.LeapAlarm), ClockUnspec, uint16(0), uint16(0)
	if synced(ref) {
		leap, count, event = uint16(ref.Leap), 1, 5
		for i := range st.Peers {
			if s := st.Peers[i].Select; s == SelSysPeer || s == SelPPSPeer {
				src = st.Peers[i].Clock
				break
			}
		}
	}
	return leap<<14 | uint16(src&0x3f)<<8 | count<<4 | event
}

func synced(ref *discipline.Reference) bool {
	return ref != nil && ref.Synchronised && ref.Leap != discipline.LeapAlarm && ref.Stratum > 0 && ref.Stratum < 16
}

// peerStatus is a peer status word (RFC 9327 section 2.2.2): flags
// configured and reachable, the selection code, then one event (ntpd's
// PEVNT_REACH, 4, or PEVNT_UNREACH, 3).
func peerStatus(p *ControlPeer) uint16 {
	const pstConfig, pstReach = 0x80, 0x10
	flags, event := uint16(pstConfig), uint16(3)
	if p.Reach != 0 {
		flags, event = flags|pstReach, 4
	}
	return (flags|uint16(p.Select&7))<<8 | 1<<4 | event
}

// ctlReply accumulates a reply's data and sends it in fragments.
type ctlReply struct {
	r      ctlRequest
	leap   uint8
	status uint16
	data   []byte
	send   func([]byte)
}

// fail sends ntpd's error reply: a bare 12-byte header with the error code
// in the status word's high byte. No request is shorter, so an error
// never amplifies.
func (rp *ctlReply) fail(code uint8) Outcome {
	var b [ctlHeaderLen]byte
	rp.header(b[:], ctlResponse|ctlError, uint16(code)<<8, 0, 0)
	rp.send(b[:])
	return OutControl
}

func (rp *ctlReply) header(b []byte, flags uint8, status uint16, offset, count int) {
	b[0] = rp.leap<<6 | rp.r.vn<<3 | ModeControl
	b[1] = flags | rp.r.op
	binary.BigEndian.PutUint16(b[2:], rp.r.seq)
	binary.BigEndian.PutUint16(b[4:], status)
	binary.BigEndian.PutUint16(b[6:], rp.r.assocID)
	binary.BigEndian.PutUint16(b[8:], uint16(offset))
	binary.BigEndian.PutUint16(b[10:], uint16(count))
}

// flush sends the data in fragments of at most ctlMaxData bytes, each
// padded to a multiple of 4 (ntpq refuses others), with the More bit on
// all but the last. Data beyond ctlMaxFrags fragments is cut (it would
// take hundreds of associations).
func (rp *ctlReply) flush() Outcome {
	var b [ctlHeaderLen + ctlMaxData]byte
	data := rp.data
	if len(data) > ctlMaxFrags*ctlMaxData {
		data = data[:ctlMaxFrags*ctlMaxData]
	}
	off := 0
	for {
		n := min(len(data)-off, ctlMaxData)
		flags := uint8(ctlResponse)
		if off+n < len(data) {
			flags |= ctlMore
		}
		rp.header(b[:], flags, rp.status, off, n)
		copy(b[ctlHeaderLen:], data[off:off+n])
		end := ctlHeaderLen + n
		for end%4 != 0 {
			b[end] = 0
			end++
		}
		rp.send(b[:end])
		off += n
		if off >= len(data) {
			return OutControl
		}
	}
}

// maxLineLen is where ntpd starts a new line in a variable list
// (MAXDATALINELEN, 72 characters counting the separator).
const maxLineLen = 72

// vars answers a READVAR: the variables named in list (comma separated,
// each optionally `name=value`, the value ignored), or all of defaults if
// list is empty, as `name=value` items separated by ", " (",\r\n" where a
// line would pass maxLineLen) and ended by "\r\n", as ntpd writes them. An
// unknown name fails the whole request with errUnknownVar, as in ntpd.
func (rp *ctlReply) vars(list []byte, put func(b []byte, name string) ([]byte, bool), defaults []string) Outcome {
	lineLen := 0
	var item []byte
	add := func(name string) bool {
		var ok bool
		item, ok = put(item[:0], name)
		if !ok {
			return false
		}
		if len(item) == 0 {
			return true // known but nothing to say (an absent address)
		}
		if len(rp.data) > 0 {
			rp.data = append(rp.data, ',')
			if lineLen+len(item)+2 >= maxLineLen {
				rp.data = append(rp.data, '\r', '\n')
				lineLen = 0
			} else {
				rp.data = append(rp.data, ' ')
				lineLen += 2
			}
		}
		rp.data = append(rp.data, item...)
		lineLen += len(item)
		return true
	}
	if names := trimSpace(list); len(names) == 0 {
		for _, n := range defaults {
			add(n)
		}
	} else {
		for len(list) > 0 {
			var name []byte
			name, list = cutByte(list, ',')
			name, _ = cutByte(name, '=')
			name = trimSpace(name)
			if len(name) == 0 {
				continue
			}
			if !add(string(name)) {
				return rp.fail(errUnknownVar)
			}
		}
	}
	if len(rp.data) > 0 {
		rp.data = append(rp.data, '\r', '\n')
	}
	return rp.flush()
}

func cutByte(b []byte, c byte) (before, after []byte) {
	for i, x := range b {
		if x == c {
			return b[:i], b[i+1:]
		}
	}
	return b, nil
}

// trimSpace trims spaces, tabs, line ends and NULs (request padding).
func trimSpace(b []byte) []byte {
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == 0 }
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// sysVarNames are the system variables READVAR returns by default, in
// ntpd's order.
var sysVarNames = []string{"version", "processor", "system", "leap", "stratum", "precision",
	"rootdelay", "rootdisp", "refid", "reftime", "clock", "peer", "tc", "mintc",
	"offset", "frequency", "sys_jitter", "clk_jitter", "clk_wander"}

// sysVar appends name=value for a system variable; false for a name it
// does not know. Values are in ntpd's units: ms for times, ppm for
// frequencies, log2 s for precision and polls.
func sysVar(b []byte, name string, ref *discipline.Reference, nowNs int64, st *ControlStatus) ([]byte, bool) {
	ok := synced(ref)
	b = append(b, name...)
	b = append(b, '=')
	switch name {
	case "version":
		return appendQuoted(b, st.Version), true
	case "processor":
		return appendQuoted(b, st.Processor), true
	case "system":
		return appendQuoted(b, st.System), true
	case "leap":
		l := uint8(discipline.LeapAlarm)
		if ok {
			l = uint8(ref.Leap)
		}
		return strconv.AppendUint(b, uint64(l), 10), true
	case "stratum":
		s := 16 // ntpd's "unsynchronised" stratum in mode 6
		if ok {
			s = int(ref.Stratum)
		}
		return strconv.AppendInt(b, int64(s), 10), true
	case "precision":
		p := int64(defaultPrecision)
		if ref != nil {
			p = int64(ref.Precision)
		}
		return strconv.AppendInt(b, p, 10), true
	case "rootdelay":
		d := int64(0)
		if ok {
			d = ref.RootDelayNs
		}
		return appendMs(b, float64(d)), true
	case "rootdisp":
		d := int64(1e9) // what an unsynchronised reply says: 1 s
		if ok {
			d = ref.RootDispersionAt(nowNs)
		}
		return appendMs(b, float64(d)), true
	case "refid":
		if !ok {
			return append(b, "INIT"...), true
		}
		return appendRefID(b, ref.RefID, ref.Stratum), true
	case "reftime":
		var t int64
		if ok {
			t = ref.RefTimeNs
		}
		return appendLFP(b, t), true
	case "clock":
		return appendLFP(b, nowNs), true
	case "peer":
		id := uint16(0)
		for i := range st.Peers {
			if s := st.Peers[i].Select; ok && (s == SelSysPeer || s == SelPPSPeer) {
				id = st.Peers[i].AssocID
				break
			}
		}
		return strconv.AppendUint(b, uint64(id), 10), true
	case "tc":
		return strconv.AppendInt(b, int64(st.PollLog2), 10), true
	case "mintc":
		return strconv.AppendInt(b, int64(st.MinPollLog2), 10), true
	case "offset":
		// ntpd's clock offset: the correction, positive when our clock is
		// behind; the Reference's is positive when ahead.
		var o float64
		if ref != nil {
			o = -ref.OffsetNs
		}
		return appendMs(b, o), true
	case "frequency":
		var f float64
		if ref != nil {
			f = ref.FreqPPB / 1e3
		}
		return appendFixed(b, f), true
	case "sys_jitter", "clk_jitter":
		var j float64
		if ref != nil {
			j = ref.JitterNs
		}
		return appendMs(b, j), true
	case "clk_wander":
		return appendFixed(b, st.WanderPPM), true
	}
	return b, false
}

// peerVarNames are a peer's variables READVAR returns by default, in
// ntpd's order (reftime before rec: ntpq -p's `when` takes the last one).
var peerVarNames = []string{"srcadr", "srcport", "srchost", "dstadr", "dstport", "leap", "hmode", "pmode",
	"stratum", "ppoll", "hpoll", "precision", "rootdelay", "rootdisp", "refid", "reftime", "rec",
	"reach", "unreach", "delay", "offset", "jitter", "dispersion"}

// peerVar appends name=value for a peer variable (nothing for one that is
// known but absent, such as the local address); false for an unknown
// name.
func peerVar(b []byte, name string, p *ControlPeer) ([]byte, bool) {
	start := len(b)
	b = append(b, name...)
	b = append(b, '=')
	switch name {
	case "srcadr":
		// An association not resolved yet is 0.0.0.0, as ntpsec shows a
		// pool or a name being looked up (ntpq -p then prints srchost;
		// without srcadr at all, ntpq 1.2.2 crashes).
		if !p.Addr.IsValid() {
			return append(b, "0.0.0.0"...), true
		}
		return p.Addr.Addr().Unmap().AppendTo(b), true
	case "srcport":
		return strconv.AppendUint(b, uint64(p.Addr.Port()), 10), true
	case "srchost":
		if p.Name == "" {
			return b[:start], true
		}
		return appendQuoted(b, p.Name), true
	case "dstadr", "dstport":
		// The local address a source is reached through is not tracked.
		return b[:start], true
	case "leap":
		return strconv.AppendUint(b, uint64(p.Leap&3), 10), true
	case "hmode":
		return append(b, '3'), true // client (ntpd's refclocks are too)
	case "pmode":
		return append(b, '4'), true // server
	case "stratum":
		return strconv.AppendUint(b, uint64(p.Stratum), 10), true
	case "ppoll", "hpoll":
		return strconv.AppendInt(b, int64(p.PollLog2), 10), true
	case "precision":
		return strconv.AppendInt(b, int64(p.PrecisionLog2), 10), true
	case "rootdelay":
		return appendMs(b, float64(p.RootDelayNs)), true
	case "rootdisp":
		return appendMs(b, float64(p.RootDispNs)), true
	case "refid":
		return appendToken(b, p.RefID), true
	case "reftime":
		if p.RefTimeNs == 0 {
			return b[:start], true
		}
		return appendLFP(b, p.RefTimeNs), true
	case "rec":
		if p.LastNs == 0 {
			return b[:start], true
		}
		return appendLFP(b, p.LastNs), true
	case "reach":
		b = append(b, "0x"...)
		return strconv.AppendUint(b, uint64(p.Reach), 16), true
	case "unreach":
		// Polls since the source was last heard (ntpd counts them since
		// the last reply): the register's trailing zeros.
		n := 0
		for r := p.Reach; n < 8 && r&1 == 0; r >>= 1 {
			n++
		}
		return strconv.AppendInt(b, int64(n), 10), true
	case "delay":
		return appendMs(b, p.DelayNs), true
	case "offset":
		return appendMs(b, p.OffsetNs), true
	case "jitter":
		return appendMs(b, p.JitterNs), true
	case "dispersion":
		return appendMs(b, p.DispersionNs), true
	}
	return b[:start], false
}

// appendMs appends ns as ms with 6 decimals (ns resolution), as ntpsec.
func appendMs(b []byte, ns float64) []byte { return appendFixed(b, ns/1e6) }

func appendFixed(b []byte, v float64) []byte {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		v = 0
	}
	if v == 0 {
		v = 0 // no "-0.000000"
	}
	return strconv.AppendFloat(b, v, 'f', 6, 64)
}

// appendLFP appends a Unix-epoch ns time as ntpd writes an l_fp:
// 0xXXXXXXXX.XXXXXXXX (NTP seconds and fraction), 0x00000000.00000000 for
// none.
func appendLFP(b []byte, ns int64) []byte {
	var t Timestamp
	if ns != 0 {
		t = TimestampFromUnixNs(ns)
	}
	const hex = "0123456789abcdef"
	b = append(b, "0x"...)
	for i := 60; i >= 0; i -= 4 {
		b = append(b, hex[t>>uint(i)&0xf])
		if i == 32 {
			b = append(b, '.')
		}
	}
	return b
}

// appendRefID appends a system refid as ntpd does: text for stratum 0 and
// 1 (a refclock's "PPS"), a dotted IPv4 address above.
func appendRefID(b []byte, id [4]byte, stratum uint8) []byte {
	if stratum > 1 {
		return netip.AddrFrom4(id).AppendTo(b)
	}
	n := 0
	for n < 4 && id[n] != 0 {
		n++
	}
	return appendToken(b, string(id[:n]))
}

// appendToken appends an unquoted value keeping only characters that
// cannot break the list's syntax (no comma, equals sign, quote, space or
// control character).
func appendToken(b []byte, s string) []byte {
	for i := range len(s) {
		if c := s[i]; c > ' ' && c < 0x7f && c != ',' && c != '=' && c != '"' {
			b = append(b, c)
		}
	}
	return b
}

// appendQuoted appends a quoted string value, printable ASCII only, with
// no quote inside.
func appendQuoted(b []byte, s string) []byte {
	b = append(b, '"')
	for i := range len(s) {
		if c := s[i]; c >= ' ' && c < 0x7f && c != '"' {
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// controlLimiter limits mode 6 replies in fixed memory: a token bucket per
// slot of a small table indexed by a hash of the client's address (a
// hostile client can exhaust its own slot and those it collides with, no
// more; it cannot make the table grow), and one global bucket bounding
// all mode 6 work. The zero value is ready to use.
type controlLimiter struct {
	mu     sync.Mutex
	global tokenBucket
	slots  [controlSlots]tokenBucket
}

const (
	controlSlots = 64
	// Per client: ntpq -p with a dozen associations is a dozen requests at
	// once; a monitoring system every few seconds stays far below.
	controlPerClientBurst  = 32
	controlPerClientPerSec = 8
	// All clients together.
	controlGlobalBurst  = 128
	controlGlobalPerSec = 64
)

// tokenBucket holds tokens×1e9 so refills need no division; full is
// implied for a bucket never used (lastNs 0).
type tokenBucket struct {
	lastNs int64
	tokens int64 // in units of 1e-9 token
	used   bool
}

func (t *tokenBucket) take(nowNs int64, burst, perSec int64) bool {
	if !t.used {
		t.used, t.lastNs, t.tokens = true, nowNs, burst*1e9
	}
	if el := nowNs - t.lastNs; el > 0 {
		t.tokens = min(burst*1e9, t.tokens+el*perSec)
		t.lastNs = nowNs
	}
	if t.tokens < 1e9 {
		return false
	}
	t.tokens -= 1e9
	return true
}

// allow reports whether a reply to src may be sent at monoNs (a monotonic
// clock in ns), taking a token from its slot and from the global bucket.
func (l *controlLimiter) allow(src netip.Addr, monoNs int64) bool {
	a := src.Unmap().As16()
	hi := binary.BigEndian.Uint64(a[:8])
	lo := binary.BigEndian.Uint64(a[8:])
	slot := &l.slots[mix64(hi^mix64(lo))%controlSlots]
	l.mu.Lock()
	defer l.mu.Unlock()
	// Check both before taking from either, so a client refused by the
	// global bucket does not also drain its own.
	g, s := l.global, *slot
	if !s.take(monoNs, controlPerClientBurst, controlPerClientPerSec) ||
		!g.take(monoNs, controlGlobalBurst, controlGlobalPerSec) {
		return false // neither bucket changes: a refusal costs nothing
	}
	l.global, *slot = g, s
	return true
}
