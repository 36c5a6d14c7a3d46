package gps

import "encoding/binary"

// u-blox binary protocol (UBX): the frames the framer takes whole, their
// checksum, and the one message read, UBX-NAV-TIMELS. References: u-blox 8 /
// M8 Receiver Description incl. Protocol Specification (UBX-13003221),
// §32.2 (frame), §32.4 (checksum), §32.18.28 (NAV-TIMELS).

// UBXNavTimeLS is the class, ID and payload length of UBX-NAV-TIMELS (u-blox
// M8 protocol spec §32.18.28): the receiver's leap second announcement.
var UBXNavTimeLS = UBXKind{Class: 0x01, ID: 0x26, Len: 24}

// UBXKind names a u-blox binary message by class, ID and payload length.
type UBXKind struct {
	Class, ID byte
	Len       int
}

// ubxTaken are the UBX messages the framer takes whole. Any other B5 62 is
// left to NMEA framing, as junk: a false sync in line noise (or a message
// we do not read) with a length field of hundreds would otherwise swallow
// the good sentences after it.
var ubxTaken = [...]UBXKind{UBXNavTimeLS}

const maxUBXPayload = 24

// AppendUBX appends a UBX frame: sync B5 62, class, ID, little-endian
// payload length, payload, and the 8-bit Fletcher checksum over class to
// payload (§32.4).
func AppendUBX(dst []byte, class, id byte, payload []byte) []byte {
	start := len(dst)
	dst = append(dst, 0xB5, 0x62, class, id, byte(len(payload)), byte(len(payload)>>8))
	dst = append(dst, payload...)
	ckA, ckB := ubxChecksum(dst[start+2:])
	return append(dst, ckA, ckB)
}

func ubxChecksum(b []byte) (ckA, ckB byte) {
	for _, c := range b {
		ckA += c
		ckB += ckA
	}
	return ckA, ckB
}

// NavTimeLSPayload is the UBX-NAV-TIMELS payload a receiver sends that knows
// the current leap second count gpsMinusUTCS and, when change is ±1, that
// a leap second happens in toEventS seconds (both from GPS, source 2).
// change 0: none scheduled.
func NavTimeLSPayload(gpsMinusUTCS, change int, toEventS int32) []byte {
	p := make([]byte, UBXNavTimeLS.Len)
	p[4] = 0 // version
	p[8] = 2 // srcOfCurrLs: GPS
	p[9] = byte(int8(gpsMinusUTCS))
	p[10] = 2 // srcOfLsChange: GPS
	p[11] = byte(int8(change))
	binary.LittleEndian.PutUint32(p[12:], uint32(toEventS))
	p[23] = 3 // validCurrLs | validTimeToLsEvent
	return p
}

// ubx takes a UBX frame (class, ID, payload; checksum already verified).
// Only UBX-NAV-TIMELS is read (u-blox M8 protocol spec §32.18.28): byte 9
// currLs (GPS − UTC, s), 10 srcOfLsChange (0: no source), 11 lsChange
// (+1, 0, −1), 12–15 timeToLsEvent (s, signed), 23 valid (bit 0 currLs,
// bit 1 timeToLsEvent). A change without a source or a valid time to the
// event announces nothing.
func (a *Assembler) ubx(text []byte) {
	if len(text) != 2+UBXNavTimeLS.Len || text[0] != UBXNavTimeLS.Class || text[1] != UBXNavTimeLS.ID {
		return
	}
	p := text[2:]
	a.stats.LeapNotices++
	n := LeapNotice{}
	valid := p[23]
	if valid&1 != 0 {
		n.GPSMinusUTCS = int(int8(p[9]))
	}
	src, change := p[10], int(int8(p[11]))
	tte := int64(int32(binary.LittleEndian.Uint32(p[12:16])))
	if src != 0 && valid&2 != 0 && change >= -1 && change <= 1 {
		n.Known = true
		if tte > 0 {
			n.Change = change
		}
	}
	a.leap, a.leapToEventS, a.leapPending = n, tte, true
}
