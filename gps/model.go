package gps

import (
	"bytes"
	"strings"
)

// How specific a model name is: a later sentence replaces the name only
// with a more specific one (the first name of a rank is kept, so the name
// does not flap between two sentences that say different things).
const (
	rankVendor = 1 // "u-blox", "Garmin"
	rankChip   = 2 // "u-blox ANTARIS ATR062x", "MediaTek MT3339"
	rankModule = 3 // "u-blox NEO-M8N", "Unicore UM621-02"
)

// proprietaryVendors maps the start of a proprietary address ("P" + the
// NMEA manufacturer code or the vendor's own prefix) to the vendor that
// sends it. Longest prefixes first where they overlap.
var proprietaryVendors = []struct{ prefix, vendor string }{
	{"PUBX", "u-blox"},       // PUBX,00/03/04 (u-blox M8 protocol spec, §31.3)
	{"PMTK", "MediaTek"},     // MTK NMEA packet protocol (PMTK001 acks, PMTK705 release)
	{"PGTOP", "MediaTek"},    // antenna status of MT3339 modules (GlobalTop, Adafruit)
	{"PQ", "Quectel"},        // $PQGSV, $PQTM… (EG25-G, LC29H)
	{"PAIR", "Airoha"},       // AG3335 (Quectel LC26G/LC76G)
	{"PSRF", "SiRF"},         // SiRF NMEA protocol
	{"PGRM", "Garmin"},       // PGRME, PGRMM, PGRMT, PGRMV, PGRMZ
	{"PERD", "Furuno"},       // GT-8x timing receivers: PERDCRx, PERDAPI
	{"PFEC", "Furuno"},       // Furuno's NMEA manufacturer code (GPatt, GPhve)
	{"PTNL", "Trimble"},      // PTNLRxx
	{"PSTM", "ST Teseo"},     // STMicroelectronics Teseo
	{"PSTI", "SkyTraq"},      // PSTI,030 RTK; PSTI,032 baseline
	{"PJLT", "Jackson Labs"}, // GPSDO status
	{"PDTINFO", "Unicore"},   // product information (model in field 1)
	{"PCAS", "CASIC"},        // AT6558 (Quectel L76K, ATGM336H)
	{"PASHR", "Ashtech"},     // Ashtech/Magellan
	{"PSAT", "Hemisphere"},   // Hemisphere GNSS
	{"PGLOR", "Broadcom"},    // BCM47xx
	{"PRWI", "Rockwell"},     // Rockwell/Conexant Jupiter
}

// identify looks at one sentence (address and data fields, as split by the
// Decoder) for what it tells about the receiver model and remembers the
// most specific name seen. It never allocates unless it learns a name.
//
// Only the data decides: u-blox's start-up $GxTXT lines ("u-blox AG -
// www.u-blox.com", "HW UBX-M80xx", "PROTVER=18.00", "MOD=NEO-M8N"; the
// ANTARIS generation: "ANTARIS ATR062x HW …"), CASIC's ($GPTXT "MA=CASIC",
// "IC=AT6558…", "ANTENNA OK|OPEN|SHORT"), MTK's $PMTK705 release string, a
// Garmin $PGRMT product line, Unicore's $PDTINFO, and the proprietary
// sentence prefixes of proprietaryVendors.
func (d *Decoder) identify(addr []byte, f [][]byte) {
	if addr[0] == 'P' {
		d.identifyProprietary(addr, f)
		return
	}
	if len(addr) != 5 || string(addr[2:]) != "TXT" || len(f) < 4 {
		return
	}
	text := trimSpace(f[3])
	switch {
	case hasPrefixFold(text, "MOD="): // u-blox M8/M9/F9 module name
		if m := trimSpace(text[4:]); len(m) > 0 {
			d.learn("u-blox "+string(m), rankModule)
		}
	case hasPrefixFold(text, "HW UBX-"): // "HW UBX-M80xx 00080000"
		if m := firstToken(text[3:]); len(m) > 4 {
			d.learn("u-blox "+string(m[4:]), rankChip)
		}
	case hasPrefixFold(text, "ANTARIS "): // "ANTARIS ATR062x HW 80040001"
		if m := firstToken(text[8:]); len(m) > 0 {
			d.learn("u-blox ANTARIS "+string(m), rankChip)
		}
	case containsFold(text, "u-blox"), hasPrefixFold(text, "PROTVER"):
		d.learn("u-blox", rankVendor)
	case hasPrefixFold(text, "IC="): // CASIC: "IC=AT6558-5N-32-1C510800"
		if m := firstToken(text[3:]); len(m) > 0 {
			if i := bytes.IndexByte(m, '-'); i > 0 {
				m = m[:i]
			}
			d.learn("CASIC "+string(m), rankChip)
		}
	case string(text) == "MA=CASIC",
		// CASIC's antenna report, $GPTXT,01,01,01,ANTENNA OK (AT6558
		// protocol spec; quectel-l76k-nmea.log).
		string(f[2]) == "01" && (string(text) == "ANTENNA OK" || string(text) == "ANTENNA OPEN" || string(text) == "ANTENNA SHORT"):
		d.learn("CASIC", rankVendor)
	}
}

func (d *Decoder) identifyProprietary(addr []byte, f [][]byte) {
	switch string(addr) {
	case "PMTK705": // $PMTK705,AXN_2.10_3339_2012072601,5223,PA6H,1.0
		if parts := bytes.Split(field(f, 0), []byte("_")); len(parts) >= 3 && len(parts[2]) == 4 {
			if _, ok := parseInt(parts[2]); ok {
				d.learn("MediaTek MT"+string(parts[2]), rankChip)
				return
			}
		}
	case "PGRMT": // $PGRMT,GPS 15x-W software ver. 4.20,,,
		p := trimSpace(field(f, 0))
		if i := bytes.Index(p, []byte(" software")); i > 0 {
			p = p[:i]
		}
		if len(p) > 0 {
			d.learn("Garmin "+string(p), rankModule)
			return
		}
	case "PDTINFO": // $PDTINFO,UM621-02,G1B1L1E1,V1.2,R6.0.0.0Build2810,…
		if m := trimSpace(field(f, 0)); len(m) > 0 {
			d.learn("Unicore "+string(m), rankModule)
			return
		}
	}
	for _, v := range proprietaryVendors {
		if bytes.HasPrefix(addr, []byte(v.prefix)) {
			d.learn(v.vendor, rankVendor)
			return
		}
	}
}

func (d *Decoder) learn(name string, rank int) {
	if rank > d.modelRank {
		d.model, d.modelRank = name, rank
	}
}

func firstToken(b []byte) []byte {
	b = trimSpace(b)
	if i := bytes.IndexByte(b, ' '); i >= 0 {
		return b[:i]
	}
	return b
}

func hasPrefixFold(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && strings.EqualFold(string(b[:len(prefix)]), prefix)
}

func containsFold(b []byte, sub string) bool {
	for i := 0; i+len(sub) <= len(b); i++ {
		if strings.EqualFold(string(b[i:i+len(sub)]), sub) {
			return true
		}
	}
	return false
}
