package gps

import (
	"time"

	nmea "github.com/adrianmo/go-nmea"
)

// Kind is the sentence type the assembler uses.
type Kind uint8

const (
	KindOther Kind = iota
	KindRMC
	KindGGA
	KindGSA
	KindGSV
	KindZDA
	KindGNS
	KindGLL
)

var kindNames = [...]string{"other", "RMC", "GGA", "GSA", "GSV", "ZDA", "GNS", "GLL"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "?"
}

// Sentence is one decoded sentence, reduced to what epoch assembly needs.
// Has* flags say whether a field was present and well formed.
type Sentence struct {
	Kind   Kind
	Talker string // "GP", "GN", "GL", …; "P" for proprietary
	Type   string // "RMC", …

	// TODNs is the UTC time of day in ns since midnight (full precision of
	// the field, up to 1 ns). Leap: the field said second 60 (23:59:60);
	// TODNs then counts 86400 s since midnight.
	TODNs  int64
	HasTOD bool
	Leap   bool

	// Date: RMC (two-digit year expanded with ExpandYear) or ZDA (four
	// digits). Year 0: no date.
	Date civilDate

	Status  byte // RMC/GLL status 'A' (valid) or 'V' (invalid); 0 if absent
	FAAMode byte // RMC/GLL FAA mode indicator (NMEA 2.3+), 0 if absent
	Quality int  // GGA fix quality; -1 if absent
	GNSFix  bool // GNS: a mode letter other than N (no fix)
	FixType int  // GSA: 1 no fix, 2, 3; 0 if absent

	PRNs  [32]int // GSA satellites used
	NPRNs int

	Sats            int // satellites used (GGA/GNS)
	HasSats         bool
	HDOP, PDOP      float64
	HasHDOP         bool
	HasPDOP         bool
	LatDeg, LonDeg  float64
	HasPos          bool
	AltM            float64
	HasAlt          bool
	GSVTotal        int
	GSVNum          int
	InView          int
	HasInView       bool
	GSV             [4]Satellite
	NGSV            int
	Recovered       bool // a field was malformed or out of place; the others were used
	ChecksumMissing bool
	// ArrivalNs, EndNs: host times of the line's first byte and terminator
	// (Line.ArrivalNs/EndNs; 0 offline).
	ArrivalNs, EndNs int64
	// QuietNs: silence on the line before this sentence (Line.QuietNs).
	QuietNs int64
}

// DecoderStats counts decoder outcomes per framed line.
type DecoderStats struct {
	Used        uint64 // RMC/GGA/GSA/GSV/ZDA/GNS/GLL decoded (including Recovered)
	Recovered   uint64 // of Used: a field was malformed or misplaced and ignored (docs/gps-decoding.md, known traps)
	Unused      uint64 // standard sentences we do not need (VTG, TXT, GST, GBS, RTE, …)
	Proprietary uint64 // $P… sentences
	Unknown     uint64 // sentence types nobody knows (invalid talkers, $GYOACC…)
	Rejected    uint64 // needed sentence that could not be used (no checksum and not clean)
}

// Decoder decodes framed lines. The sentences epoch assembly needs are
// parsed here, field by field, straight from the line bytes (no allocation
// per sentence): go-nmea allocates ~8 times per sentence and rejects a whole
// sentence for one odd field, and we have to parse the time, date and
// GSA/GSV fields ourselves anyway. go-nmea (one SentenceParser per Decoder:
// its parsers are not goroutine-safe) is the strict gate for lines without a
// checksum, where nothing else vouches for the line.
type Decoder struct {
	p         nmea.SentenceParser
	fields    [][]byte // the current line's fields, address first (reused)
	pivotYear int
	bad       bool // a field of the current sentence was malformed
	model     string
	modelRank int
	stats     DecoderStats
}

// NewDecoder returns a decoder whose two-digit years are expanded with
// PivotYear(reference).
func NewDecoder(reference time.Time) *Decoder {
	d := &Decoder{pivotYear: PivotYear(reference), fields: make([][]byte, 0, 32)}
	// Only lines without a checksum reach go-nmea.
	d.p.CheckCRC = func(nmea.BaseSentence, string) error { return nil }
	return d
}

// Stats returns the counters.
func (d *Decoder) Stats() DecoderStats { return d.stats }

// Model names the receiver as far as the data so far tells it ("" unknown;
// see identify).
func (d *Decoder) Model() string { return d.model }

func kindOf(typ []byte) Kind {
	switch string(typ) {
	case "RMC":
		return KindRMC
	case "GGA":
		return KindGGA
	case "GSA":
		return KindGSA
	case "GSV":
		return KindGSV
	case "ZDA":
		return KindZDA
	case "GNS":
		return KindGNS
	case "GLL":
		return KindGLL
	}
	return KindOther
}

// talkerString returns the talker ID as a string without allocating for the
// talkers receivers use (the assembler keeps it across sentences).
func talkerString(t []byte) string {
	switch string(t) {
	case "GP":
		return "GP"
	case "GN":
		return "GN"
	case "GL":
		return "GL"
	case "GA":
		return "GA"
	case "GB":
		return "GB"
	case "BD":
		return "BD"
	case "GQ":
		return "GQ"
	case "QZ":
		return "QZ"
	case "GI":
		return "GI"
	case "PQ":
		return "PQ"
	}
	return string(t)
}

// split cuts text ("$" address "," fields ["*" checksum]) into d.fields, as
// go-nmea does: the fields end at the first '*', trailing spaces trimmed.
func (d *Decoder) split(text []byte) {
	body := text[1:]
	for i, c := range body {
		if c == '*' {
			body = body[:i]
			break
		}
	}
	for len(body) > 0 && body[len(body)-1] == ' ' {
		body = body[:len(body)-1]
	}
	d.fields = d.fields[:0]
	for {
		i := 0
		for i < len(body) && body[i] != ',' {
			i++
		}
		d.fields = append(d.fields, body[:i])
		if i == len(body) {
			return
		}
		body = body[i+1:]
	}
}

// Decode decodes one framed line. ok is false for lines the assembler does
// not need or cannot use; each such line is counted. Lines that name the
// receiver (Model) are looked at whatever their kind.
func (d *Decoder) Decode(l Line) (s Sentence, ok bool) {
	if len(l.Text) < 2 {
		d.stats.Rejected++
		return s, false
	}
	d.split(l.Text)
	addr, f := d.fields[0], d.fields[1:]
	if len(addr) == 0 {
		d.stats.Rejected++
		return s, false
	}
	d.identify(addr, f)
	if addr[0] == 'P' { // go-nmea's rule: P + any length is proprietary
		d.stats.Proprietary++
		return s, false
	}
	if len(addr) != 5 { // "$GYOACC": not talker + type
		d.stats.Unknown++
		return s, false
	}
	s.Kind = kindOf(addr[2:])
	if s.Kind == KindOther {
		d.stats.Unused++
		return s, false
	}
	s.Talker, s.Type = talkerString(addr[:2]), s.Kind.String()
	s.Quality = -1
	s.ChecksumMissing = l.Checksum == ChecksumMissing
	s.ArrivalNs, s.EndNs, s.QuietNs = l.ArrivalNs, l.EndNs, l.QuietNs
	if s.ChecksumMissing {
		// Without a checksum nothing vouches for the line: accept it only
		// if go-nmea's strict parse agrees every field is well formed.
		if _, err := d.p.Parse(string(l.Text)); err != nil {
			d.stats.Rejected++
			return s, false
		}
	}
	d.bad = false
	d.fromFields(&s, f)
	if d.bad {
		s.Recovered = true
		d.stats.Recovered++
	}
	d.stats.Used++
	return s, true
}

func field(f [][]byte, i int) []byte {
	if i < len(f) {
		return f[i]
	}
	return nil
}

// int parses an integer field; a malformed non-empty one marks the sentence.
func (d *Decoder) int(f [][]byte, i int) (int, bool) {
	b := field(f, i)
	n, ok := parseInt(b)
	if !ok && len(trimSpace(b)) > 0 {
		d.bad = true
	}
	return n, ok
}

// float parses a decimal field; a malformed non-empty one marks the sentence.
func (d *Decoder) float(f [][]byte, i int) (float64, bool) {
	b := field(f, i)
	x, ok := parseFloat(b)
	if !ok && len(trimSpace(b)) > 0 {
		d.bad = true
	}
	return x, ok
}

// setTOD hand-parses the time field: go-nmea keeps only milliseconds and
// rejects second 60.
func (d *Decoder) setTOD(s *Sentence, b []byte) {
	s.TODNs, s.Leap, s.HasTOD = parseTOD(b)
	if !s.HasTOD && len(b) > 0 {
		d.bad = true
	}
}

// status returns an A/V status letter; anything else marks the sentence.
func (d *Decoder) status(b []byte) byte {
	c := firstByte(b)
	if c != 0 && c != 'A' && c != 'V' || len(b) > 1 {
		d.bad = true
	}
	return c
}

// gsaDOPIndex is the index of PDOP in a GSA with n data fields (-1: none).
// Standard GSA has 12 PRN slots (17 fields, 18 with the NMEA 4.1 system
// ID); some receivers (Navior CH-4701) list 24 slots, moving the DOPs to the
// last three fields.
func gsaDOPIndex(n int) int {
	switch {
	case n == 17 || n == 18:
		return 14
	case n > 18:
		return n - 3
	}
	return -1
}

// zdaDate checks a ZDA date. A four-digit year may be early (a GPS week
// rollover or a receiver default: UnfoldRollover and the GPS epoch check
// judge it) but not beyond the end of the window two-digit years are
// expanded into (PivotYear+99): a receiver naming year 2150 or 200000 is
// broken.
func (d *Decoder) zdaDate(y, m, day int, rawYear []byte) civilDate {
	switch len(trimSpace(rawYear)) {
	case 2:
		y = ExpandYear(y, d.pivotYear)
	case 4:
		if y > d.pivotYear+99 {
			d.bad = true
			return civilDate{}
		}
	default:
		d.bad = true
		return civilDate{}
	}
	dt := civilDate{Year: y, Month: m, Day: day}
	if !dt.valid() {
		d.bad = true
		return civilDate{}
	}
	return dt
}

// fromFields parses a needed sentence field by field, so one bad field (a
// mode letter where the variation direction goes, an empty coordinate, a
// GPSDO's lock flag for GGA quality) cannot discard the time and date that
// the sentence carries; such a sentence is marked Recovered.
func (d *Decoder) fromFields(s *Sentence, f [][]byte) {
	switch s.Kind {
	case KindRMC:
		d.setTOD(s, field(f, 0))
		s.Status = d.status(field(f, 1))
		d.setPos(s, f, 2)
		if dt, ok := parseDDMMYY(field(f, 8), d.pivotYear); ok {
			s.Date = dt
		} else if len(field(f, 8)) > 0 {
			d.bad = true
		}
		if len(f) > 11 {
			s.FAAMode = firstByte(f[11])
		} else if len(f) == 11 && !isVarDir(f[10]) {
			// 11 data fields: the mode sits where the variation direction
			// goes (old SiRF, Motorola T805, Saab).
			s.FAAMode = firstByte(f[10])
			d.bad = true
		}
	case KindGGA:
		d.setTOD(s, field(f, 0))
		d.setPos(s, f, 1)
		if q, ok := d.int(f, 5); ok {
			s.Quality = q
			if q < 0 || q > 8 { // NMEA 0183 4.1 defines 0–8
				d.bad = true
			}
		}
		s.Sats, s.HasSats = d.int(f, 6)
		s.HDOP, s.HasHDOP = d.float(f, 7)
		s.AltM, s.HasAlt = d.float(f, 8)
	case KindGSA:
		s.FixType, _ = d.int(f, 1)
		end := gsaDOPIndex(len(f))
		if end < 0 {
			end = len(f)
		}
		for i := 2; i < end && i < len(f); i++ {
			if n, ok := d.int(f, i); ok && s.NPRNs < len(s.PRNs) {
				s.PRNs[s.NPRNs] = n
				s.NPRNs++
			}
		}
		if i := gsaDOPIndex(len(f)); i >= 0 {
			s.PDOP, s.HasPDOP = d.float(f, i)
			s.HDOP, s.HasHDOP = d.float(f, i+1)
		}
	case KindGSV:
		s.GSVTotal, _ = d.int(f, 0)
		s.GSVNum, _ = d.int(f, 1)
		s.InView, s.HasInView = d.int(f, 2)
		for i := 0; i < 4 && 3+4*i < len(f); i++ {
			prn, ok := d.int(f, 3+4*i)
			if !ok || prn == 0 {
				continue
			}
			el, _ := d.int(f, 4+4*i)
			az, _ := d.int(f, 5+4*i)
			snr, ok := d.int(f, 6+4*i)
			if !ok {
				snr = -1
			}
			s.GSV[s.NGSV] = Satellite{PRN: prn, ElevationDeg: el, AzimuthDeg: az, SNRdBHz: snr}
			s.NGSV++
		}
	case KindZDA:
		d.setTOD(s, field(f, 0))
		day, ok1 := d.int(f, 1)
		m, ok2 := d.int(f, 2)
		y, ok3 := d.int(f, 3)
		if ok1 && ok2 && ok3 {
			s.Date = d.zdaDate(y, m, day, field(f, 3))
		}
	case KindGNS:
		d.setTOD(s, field(f, 0))
		d.setPos(s, f, 1)
		for _, c := range field(f, 5) {
			if c != 'N' {
				s.GNSFix = true
			}
		}
		s.Sats, s.HasSats = d.int(f, 6)
		s.HDOP, s.HasHDOP = d.float(f, 7)
		s.AltM, s.HasAlt = d.float(f, 8)
	case KindGLL:
		d.setPos(s, f, 0)
		d.setTOD(s, field(f, 4))
		s.Status = d.status(field(f, 5))
		s.FAAMode = firstByte(field(f, 6))
	}
}

func isVarDir(b []byte) bool {
	return len(b) == 0 || len(b) == 1 && (b[0] == 'E' || b[0] == 'W')
}

func (d *Decoder) setPos(s *Sentence, f [][]byte, i int) {
	lat, ok1 := parseLatLon(field(f, i), field(f, i+1), 90)
	lon, ok2 := parseLatLon(field(f, i+2), field(f, i+3), 180)
	if ok1 && ok2 {
		s.LatDeg, s.LonDeg, s.HasPos = lat, lon, true
	} else if len(field(f, i)) > 0 || len(field(f, i+2)) > 0 {
		d.bad = true
	}
}

func firstByte(b []byte) byte {
	if len(b) == 0 {
		return 0
	}
	return b[0]
}
