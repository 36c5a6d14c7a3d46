package gps

import (
	"errors"
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
	GNSMode string
	FixType int // GSA: 1 no fix, 2, 3; 0 if absent

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
	Recovered       bool // go-nmea rejected it; the fields were parsed by hand
	ChecksumMissing bool
	// ArrivalNs, EndNs: host times of the line's first byte and terminator
	// (Line.ArrivalNs/EndNs; 0 offline).
	ArrivalNs, EndNs int64
}

// DecoderStats counts decoder outcomes per framed line.
type DecoderStats struct {
	Used        uint64 // RMC/GGA/GSA/GSV/ZDA/GNS/GLL decoded (including Recovered)
	Recovered   uint64 // go-nmea returned an error; fields hand-parsed (traps in doc.go)
	Unused      uint64 // standard sentences we do not need (VTG, TXT, GST, GBS, RTE, …)
	Proprietary uint64 // $P… sentences
	Unknown     uint64 // sentence types nobody knows (invalid talkers, $GYOACC…)
	Rejected    uint64 // needed sentence that could not be used (no checksum and not clean, broken address)
}

// Decoder decodes framed lines with its own go-nmea SentenceParser (go-nmea
// parsers are not goroutine-safe, so every reader owns one).
type Decoder struct {
	p         nmea.SentenceParser
	base      nmea.BaseSentence
	haveBase  bool
	pivotYear int
	stats     DecoderStats
}

// NewDecoder returns a decoder whose two-digit years are expanded with
// PivotYear(reference).
func NewDecoder(reference time.Time) *Decoder {
	d := &Decoder{pivotYear: PivotYear(reference)}
	// The framer has verified the checksum (or found none): go-nmea must not
	// reject lines without one.
	d.p.CheckCRC = func(nmea.BaseSentence, string) error { return nil }
	d.p.OnBaseSentence = func(s *nmea.BaseSentence) error {
		d.base = *s
		d.haveBase = true
		return nil
	}
	return d
}

// Stats returns the counters.
func (d *Decoder) Stats() DecoderStats { return d.stats }

func kindOf(typ string) Kind {
	switch typ {
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

// Decode decodes one framed line. ok is false for lines the assembler does
// not need or cannot use; each such line is counted.
func (d *Decoder) Decode(l Line) (s Sentence, ok bool) {
	d.haveBase = false
	parsed, err := d.p.Parse(string(l.Text))
	if !d.haveBase {
		d.stats.Rejected++
		return s, false
	}
	b := &d.base
	s.Talker, s.Type = b.Talker, b.Type
	s.Kind = kindOf(b.Type)
	s.Quality = -1
	s.ChecksumMissing = l.Checksum == ChecksumMissing
	s.ArrivalNs, s.EndNs = l.ArrivalNs, l.EndNs
	if b.Talker == "P" || (b.Talker == "" && len(b.Type) > 0 && b.Type[0] == 'P') {
		d.stats.Proprietary++
		return s, false
	}
	if s.Kind == KindOther {
		var ns *nmea.NotSupportedError
		if err == nil || !errors.As(err, &ns) || b.Talker != "" {
			d.stats.Unused++
		} else {
			d.stats.Unknown++
		}
		return s, false
	}
	if b.Talker == "" { // "$GYOACC": go-nmea's catch-all for a non-5-letter address
		d.stats.Unknown++
		return s, false
	}
	if err != nil {
		// A needed sentence go-nmea rejected. Without a checksum there is no
		// evidence the line is intact: refuse rather than guess.
		if s.ChecksumMissing {
			d.stats.Rejected++
			return s, false
		}
		s.Recovered = true
		d.stats.Recovered++
		d.fromFields(&s, b.Fields)
	} else {
		d.fromNMEA(&s, parsed, b.Fields)
	}
	d.stats.Used++
	return s, true
}

func field(f []string, i int) string {
	if i < len(f) {
		return f[i]
	}
	return ""
}

// setTOD hand-parses the time field: go-nmea keeps only milliseconds and
// rejects second 60.
func (s *Sentence) setTOD(v string) {
	s.TODNs, s.Leap, s.HasTOD = parseTOD(v)
}

func (d *Decoder) fromNMEA(s *Sentence, parsed nmea.Sentence, f []string) {
	switch v := parsed.(type) {
	case nmea.RMC:
		s.setTOD(field(f, 0))
		s.Status = firstByte(v.Validity)
		s.LatDeg, s.LonDeg, s.HasPos = v.Latitude, v.Longitude, field(f, 2) != "" && field(f, 4) != ""
		if dt, ok := parseDDMMYY(field(f, 8), d.pivotYear); ok {
			s.Date = dt
		}
		s.FAAMode = firstByte(v.FFAMode)
	case nmea.GGA:
		s.setTOD(field(f, 0))
		s.LatDeg, s.LonDeg, s.HasPos = v.Latitude, v.Longitude, field(f, 1) != "" && field(f, 3) != ""
		s.Quality, _ = parseInt(v.FixQuality)
		if v.FixQuality == "" {
			s.Quality = -1
		}
		s.Sats, s.HasSats = int(v.NumSatellites), field(f, 6) != ""
		s.HDOP, s.HasHDOP = v.HDOP, field(f, 7) != ""
		s.AltM, s.HasAlt = v.Altitude, field(f, 8) != ""
	case nmea.GSA:
		s.FixType, _ = parseInt(v.FixType)
		for _, sv := range v.SV {
			if n, ok := parseInt(sv); ok && s.NPRNs < len(s.PRNs) {
				s.PRNs[s.NPRNs] = n
				s.NPRNs++
			}
		}
		d.gsaDOP(s, f)
	case nmea.GSV:
		s.GSVTotal, s.GSVNum = int(v.TotalMessages), int(v.MessageNumber)
		s.InView, s.HasInView = int(v.NumberSVsInView), field(f, 2) != ""
		for i, in := range v.Info {
			if i >= len(s.GSV) || in.SVPRNNumber == 0 {
				continue
			}
			snr := int(in.SNR)
			if field(f, 6+4*i) == "" {
				snr = -1
			}
			s.GSV[s.NGSV] = Satellite{PRN: int(in.SVPRNNumber), ElevationDeg: int(in.Elevation), AzimuthDeg: int(in.Azimuth), SNRdBHz: snr}
			s.NGSV++
		}
	case nmea.ZDA:
		s.setTOD(field(f, 0))
		s.Date = d.zdaDate(int(v.Year), int(v.Month), int(v.Day), field(f, 3))
	case nmea.GNS:
		s.setTOD(field(f, 0))
		s.LatDeg, s.LonDeg, s.HasPos = v.Latitude, v.Longitude, field(f, 1) != "" && field(f, 3) != ""
		s.GNSMode = field(f, 5)
		s.Sats, s.HasSats = int(v.SVs), field(f, 6) != ""
		s.HDOP, s.HasHDOP = v.HDOP, field(f, 7) != ""
		s.AltM, s.HasAlt = v.Altitude, field(f, 8) != ""
	case nmea.GLL:
		s.setTOD(field(f, 4))
		s.Status = firstByte(v.Validity)
		s.LatDeg, s.LonDeg, s.HasPos = v.Latitude, v.Longitude, field(f, 0) != "" && field(f, 2) != ""
		s.FAAMode = firstByte(v.FFAMode)
	default:
		d.fromFields(s, f)
	}
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

func (d *Decoder) gsaDOP(s *Sentence, f []string) {
	i := gsaDOPIndex(len(f))
	if i < 0 {
		return
	}
	s.PDOP, s.HasPDOP = parseFloat(f[i])
	s.HDOP, s.HasHDOP = parseFloat(f[i+1])
}

func (d *Decoder) zdaDate(y, m, day int, rawYear string) civilDate {
	if y == 0 && rawYear == "" {
		return civilDate{}
	}
	if len(rawYear) == 2 {
		y = ExpandYear(y, d.pivotYear)
	}
	dt := civilDate{Year: y, Month: m, Day: day}
	if !dt.valid() {
		return civilDate{}
	}
	return dt
}

// fromFields parses a needed sentence by hand, field by field, so one bad
// field (a mode letter where the variation direction goes, an empty
// coordinate, a GPSDO's lock flag for GGA quality) cannot discard the time
// and date that the sentence carries.
func (d *Decoder) fromFields(s *Sentence, f []string) {
	switch s.Kind {
	case KindRMC:
		s.setTOD(field(f, 0))
		s.Status = firstByte(field(f, 1))
		s.setPos(f, 2)
		if dt, ok := parseDDMMYY(field(f, 8), d.pivotYear); ok {
			s.Date = dt
		}
		if len(f) > 11 {
			s.FAAMode = firstByte(f[11])
		} else if len(f) == 11 && f[10] != "E" && f[10] != "W" {
			// 11 data fields: the mode sits where the variation direction goes.
			s.FAAMode = firstByte(f[10])
		}
	case KindGGA:
		s.setTOD(field(f, 0))
		s.setPos(f, 1)
		if q, ok := parseInt(field(f, 5)); ok {
			s.Quality = q
		}
		s.Sats, s.HasSats = parseInt(field(f, 6))
		s.HDOP, s.HasHDOP = parseFloat(field(f, 7))
		s.AltM, s.HasAlt = parseFloat(field(f, 8))
	case KindGSA:
		s.FixType, _ = parseInt(field(f, 1))
		end := gsaDOPIndex(len(f))
		if end < 0 {
			end = len(f)
		}
		for i := 2; i < end && i < len(f); i++ {
			if n, ok := parseInt(f[i]); ok && s.NPRNs < len(s.PRNs) {
				s.PRNs[s.NPRNs] = n
				s.NPRNs++
			}
		}
		d.gsaDOP(s, f)
	case KindGSV:
		s.GSVTotal, _ = parseInt(field(f, 0))
		s.GSVNum, _ = parseInt(field(f, 1))
		s.InView, s.HasInView = parseInt(field(f, 2))
		for i := 0; i < 4 && 3+4*i < len(f); i++ {
			prn, ok := parseInt(f[3+4*i])
			if !ok || prn == 0 {
				continue
			}
			el, _ := parseInt(field(f, 4+4*i))
			az, _ := parseInt(field(f, 5+4*i))
			snr, ok := parseInt(field(f, 6+4*i))
			if !ok {
				snr = -1
			}
			s.GSV[s.NGSV] = Satellite{PRN: prn, ElevationDeg: el, AzimuthDeg: az, SNRdBHz: snr}
			s.NGSV++
		}
	case KindZDA:
		s.setTOD(field(f, 0))
		day, ok1 := parseInt(field(f, 1))
		m, ok2 := parseInt(field(f, 2))
		y, ok3 := parseInt(field(f, 3))
		if ok1 && ok2 && ok3 {
			s.Date = d.zdaDate(y, m, day, field(f, 3))
		}
	case KindGNS:
		s.setTOD(field(f, 0))
		s.setPos(f, 1)
		s.GNSMode = field(f, 5)
		s.Sats, s.HasSats = parseInt(field(f, 6))
		s.HDOP, s.HasHDOP = parseFloat(field(f, 7))
		s.AltM, s.HasAlt = parseFloat(field(f, 8))
	case KindGLL:
		s.setPos(f, 0)
		s.setTOD(field(f, 4))
		s.Status = firstByte(field(f, 5))
		s.FAAMode = firstByte(field(f, 6))
	}
}

func (s *Sentence) setPos(f []string, i int) {
	lat, ok1 := parseLatLon(field(f, i), field(f, i+1), 90)
	lon, ok2 := parseLatLon(field(f, i+2), field(f, i+3), 180)
	if ok1 && ok2 {
		s.LatDeg, s.LonDeg, s.HasPos = lat, lon, true
	}
}

func firstByte(s string) byte {
	if s == "" {
		return 0
	}
	return s[0]
}
