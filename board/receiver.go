package board

import (
	"fmt"
	"strings"
	"time"

	"github.com/gpsntp/gpsntp/gps"
	"github.com/gpsntp/gpsntp/pps"
)

// Receiver is what gpsntp needs to know about a GPS receiver model.
type Receiver struct {
	// Name is the short identifier used in the config file (receiver ublox).
	Name string
	// Title is the product as people say it.
	Title string
	// DefaultBaud is the factory serial speed.
	DefaultBaud int
	// InitCommands are written to the receiver once the port is open, in
	// order, each a complete frame (checksums included). They select 1 Hz
	// output of the sentences the gps package needs (RMC, GGA, ZDA where
	// supported) and drop the rest so the burst after each pulse is short.
	InitCommands [][]byte
	// NMEADelay is the typical delay from the PPS edge to the first byte of
	// the sentences naming that second, and NMEADelayMax the longest seen.
	// They are starting points that vary with baud rate, firmware and the
	// sentences enabled; pairing must not depend on them being exact.
	NMEADelay, NMEADelayMax time.Duration
	// PPSEdge is the on-time edge of the PPS output.
	PPSEdge pps.Polarity
	// Notes are operator-facing caveats for status output and docs.
	Notes string
}

// NMEA frames an NMEA 0183 sentence: "$" + body + "*" + checksum + CR LF.
// The checksum is the XOR of every byte of body (between "$" and "*"),
// as two upper-case hex digits.
func NMEA(body string) []byte {
	return []byte(fmt.Sprintf("$%s*%02X\r\n", body, nmeaChecksum(body)))
}

func nmeaChecksum(body string) byte {
	var c byte
	for i := 0; i < len(body); i++ {
		c ^= body[i]
	}
	return c
}

// UBX frames a u-blox binary message: sync chars B5 62, class, id, payload
// length (little-endian u16), payload, and the 8-bit Fletcher checksum
// CK_A, CK_B over class through payload (u-blox M8 protocol spec, §32.4).
func UBX(class, id byte, payload []byte) []byte {
	return gps.AppendUBX(nil, class, id, payload)
}

// UBX-CFG-MSG (06 01) with the 3-byte payload sets the rate of one NMEA
// message (class F0) on the port the command arrives on.
func ubxSetNMEARate(nmeaID, rate byte) []byte {
	return UBX(0x06, 0x01, []byte{0xF0, nmeaID, rate})
}

// NMEA message ids in u-blox class F0.
const (
	ubxGGA, ubxGLL, ubxGSA, ubxGSV, ubxRMC, ubxVTG, ubxZDA = 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x08
)

// ubxNav5Stationary is UBX-CFG-NAV5 (06 24, 36 bytes) applying only the
// dynamic model (mask bit 0) = 2, stationary: the timing-friendly model
// for a fixed antenna.
func ubxNav5Stationary() []byte {
	p := make([]byte, 36)
	p[0], p[1] = 0x01, 0x00 // mask: dyn
	p[2] = 2                // dynModel: stationary
	return UBX(0x06, 0x24, p)
}

var receivers = []Receiver{
	{
		Name: "ublox", Title: "u-blox M8 (NEO-M8N/M8T, MAX-M8Q)", DefaultBaud: 9600,
		InitCommands: [][]byte{
			ubxSetNMEARate(ubxZDA, 1),
			ubxSetNMEARate(ubxGSV, 0),
			ubxSetNMEARate(ubxGLL, 0),
			ubxSetNMEARate(ubxVTG, 0),
			ubxNav5Stationary(),
			// UBX-NAV-TIMELS once a minute: the leap second
			// announcement (NMEA has none). Not every second: 32 more
			// bytes in the burst would move the NMEA that follows.
			UBX(0x06, 0x01, []byte{0x01, 0x26, 60}),
		},
		NMEADelay: 60 * time.Millisecond, NMEADelayMax: 500 * time.Millisecond,
		PPSEdge: pps.Rising,
		Notes: "Holds back PPS after a cold start until it knows the UTC leap second count " +
			"(up to 12.5 min); time pulse is 100 ms, rising edge on time, by default.",
	},
	{
		Name: "mtk3339", Title: "MTK3339 (Adafruit Ultimate GPS, PA6H/PA1616)", DefaultBaud: 9600,
		InitCommands: [][]byte{
			// Rates: GLL,RMC,VTG,GGA,GSA,GSV, 6–16 reserved, ZDA(17), MCHN(18).
			NMEA("PMTK314,0,1,0,1,0,0,0,0,0,0,0,0,0,0,0,0,0,1,0"), // RMC, GGA, ZDA
			NMEA("PMTK220,1000"),  // 1 Hz fixes
			NMEA("PMTK255,1"),     // sync NMEA output to PPS
			NMEA("PMTK285,2,100"), // PPS only with a 3D fix, 100 ms wide
		},
		NMEADelay: 150 * time.Millisecond, NMEADelayMax: 900 * time.Millisecond,
		PPSEdge: pps.Rising,
		Notes:   "PPS only after a fix.",
	},
	{
		Name: "l76k", Title: "Quectel L76K", DefaultBaud: 9600,
		InitCommands: [][]byte{
			// CASIC PCAS03 rates: GGA,GLL,GSA,GSV,RMC,VTG,ZDA,ANT,DHV,LPS,
			// res,res,UTC,GST (the 14-field form every AT6558 accepts).
			NMEA("PCAS03,1,0,0,0,1,0,1,0,0,0,,,0,0"), // GGA, RMC, ZDA
			NMEA("PCAS02,1000"),                      // 1 Hz fixes
		},
		NMEADelay: 100 * time.Millisecond, NMEADelayMax: 900 * time.Millisecond,
		PPSEdge: pps.Rising,
	},
	{
		Name: "generic", Title: "Generic NMEA 0183 receiver", DefaultBaud: 9600,
		NMEADelay: 0, NMEADelayMax: 900 * time.Millisecond,
		PPSEdge: pps.Rising,
		Notes:   "No initialisation is sent; the receiver must output RMC (and ideally ZDA) at 1 Hz.",
	},
}

// Receivers returns every known receiver profile.
func Receivers() []Receiver {
	out := make([]Receiver, len(receivers))
	for i, r := range receivers {
		out[i] = cloneReceiver(r)
	}
	return out
}

func cloneReceiver(r Receiver) Receiver {
	cmds := make([][]byte, len(r.InitCommands))
	for i, c := range r.InitCommands {
		cmds[i] = append([]byte(nil), c...)
	}
	r.InitCommands = cmds
	return r
}

// ReceiverByName returns the receiver called name, ignoring case. "u-blox"
// and "mtk" are accepted as aliases.
func ReceiverByName(name string) (Receiver, bool) {
	switch strings.ToLower(name) {
	case "u-blox", "ublox-m8", "m8":
		name = "ublox"
	case "mtk", "adafruit", "pa1616s", "pa6h":
		name = "mtk3339"
	case "nmea":
		name = "generic"
	}
	for _, r := range receivers {
		if strings.EqualFold(r.Name, name) {
			return cloneReceiver(r), true
		}
	}
	return Receiver{}, false
}
