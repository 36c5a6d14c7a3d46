package ntpserve

import (
	"encoding/binary"
	"sync/atomic"
)

// Interleaved client/server mode (draft-ietf-ntp-interleaved-modes, as
// chronyd implements it with `xleave`). A basic reply's transmit timestamp
// is read before the datagram leaves, so it is early by the send path's
// latency. In interleaved mode the server sends, in the next reply, the
// kernel's transmit timestamp of the previous one, which has no such error.
//
// The exchange, for a client that asks for it:
//
//	request n:   origin = our receive timestamp of request n-1 (T2'),
//	             receive = the client's receive time of reply n-1,
//	             transmit = the client's send time (T1)
//	reply n:     origin = the request's receive field, receive = T2 of
//	             request n, transmit = the kernel transmit time of reply n-1
//
// A request is interleaved when its origin is a receive timestamp we
// recorded a transmit time for and its receive and transmit fields differ
// (a basic client sets them equal or zero). Any other request gets a basic
// reply; if it looks like an interleaved client's (origin set, receive ≠
// transmit) its reply's kernel transmit time is recorded under its receive
// timestamp, so the client's next request can be answered interleaved: as
// with chronyd, the third reply to a new client is the first interleaved
// one.
//
// The record is keyed by our receive timestamp, not by the client's
// address, so clients behind one NAT do not overwrite each other and a
// client may change its source port (and so its SO_REUSEPORT worker) per
// request. It is a fixed-size, direct-mapped table shared by the workers:
// a newer entry overwrites an older one in its slot, after which that
// client gets one basic reply.

// xleaveSlots is the table's size: 16,384 entries of 16 bytes (256 KiB).
// Each interleaved client holds one entry per poll interval, so that many
// clients stay interleaved at once.
const xleaveSlots = 1 << 14

// xleaveTable maps our receive timestamp of a request (an NTP timestamp,
// as sent in the reply) to the kernel transmit time of the reply (NTP
// timestamp of served time).
type xleaveTable struct {
	slots [xleaveSlots]struct{ rx, tx atomic.Uint64 }
}

func xleaveSlot(rx uint64) uint64 {
	// Fibonacci hashing: the low bits of a timestamp's fraction are
	// noise, its seconds change slowly; mix them all.
	return (rx * 0x9E3779B97F4A7C15) >> (64 - 14)
}

// put records tx for the reply whose receive timestamp is rx. The slot's
// key is cleared while tx is written, so a concurrent get sees the old
// pair, no pair, or the new one, never a mix.
func (t *xleaveTable) put(rx, tx uint64) {
	if rx == 0 {
		return
	}
	s := &t.slots[xleaveSlot(rx)]
	s.rx.Store(0)
	s.tx.Store(tx)
	s.rx.Store(rx)
}

// get returns the transmit time recorded for rx.
func (t *xleaveTable) get(rx uint64) (uint64, bool) {
	if rx == 0 {
		return 0, false
	}
	s := &t.slots[xleaveSlot(rx)]
	if s.rx.Load() != rx {
		return 0, false
	}
	tx := s.tx.Load()
	if s.rx.Load() != rx {
		return 0, false
	}
	return tx, true
}

// xleave decides the transmit side of a reply already built in resp for
// req: interleaved reports that resp now carries the recorded kernel
// transmit time of the client's previous reply (and its origin is the
// request's receive field) so it must not be stamped; record reports that
// this reply's kernel transmit time should be recorded under its receive
// timestamp. Only for synchronised replies to mode 3 requests.
func (t *xleaveTable) xleave(req, resp []byte) (interleaved, record bool) {
	org := binary.BigEndian.Uint64(req[24:32])
	rec := binary.BigEndian.Uint64(req[32:40])
	xmt := binary.BigEndian.Uint64(req[40:48])
	if org == 0 || rec == xmt {
		return false, false // a basic client
	}
	if tx, ok := t.get(org); ok {
		binary.BigEndian.PutUint64(resp[24:32], rec)
		binary.BigEndian.PutUint64(resp[40:48], tx)
		return true, true
	}
	return false, true
}
