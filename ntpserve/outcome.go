package ntpserve

import (
	"encoding/json"
	"fmt"
)

// Outcome is what happened to one received packet. Every packet read from
// the sockets ends in exactly one, and each has a counter (Stats.Outcomes).
// This is the one list of them: views and metrics loop over it.
type Outcome uint8

const (
	OutReply         Outcome = iota // mode 4 (or 2) reply, synchronised
	OutReplyUnsync                  // reply saying LI 3 / stratum 0, as chronyd does unsynchronised
	OutKoD                          // kiss-o'-death RATE sent
	OutControl                      // mode 6 answered (ntpq): a read, or ntpd's 12-byte error reply; see mode6.go
	OutDropMalformed                // shorter than a header, or not a mode 6 request ntpd would answer
	OutDropVersion                  // version 0 or 5..7
	OutDropMode                     // modes 2, 4, 5 (and 0 unless NTPv1)
	OutDropQuery                    // mode 7, or mode 6 from a noquery address (or with no ControlSource)
	OutDropRestrict                 // ignore, noserve, notrust, version
	OutDropPeer                     // mode 1 from an address with nopeer
	OutDropRate                     // over the rate limit, no KoD; or over the mode 6 reply limit
	NumOutcomes
)

// outcomeNames are the outcomes' names (metric labels, JSON keys) and what
// each means for an operator, in Outcome order.
var outcomeNames = [NumOutcomes]struct{ name, means string }{
	OutReply:         {"replied", "served synchronised time"},
	OutReplyUnsync:   {"replied_unsync", "answered unsynchronised (LI 3)"},
	OutKoD:           {"kod", "kiss-o'-death RATE sent"},
	OutDropMalformed: {"dropped_malformed", "under 48 bytes (mode 6: 12), bad mode 6"},
	OutDropVersion:   {"dropped_version", "version 0 or above 4"},
	OutDropMode:      {"dropped_mode", "modes 0, 2, 4, 5"},
	OutDropQuery:     {"dropped_query", "mode 7; mode 6 from a noquery address"},
	OutDropRestrict:  {"dropped_restrict", "restrict ignore/noserve/notrust/version"},
	OutDropPeer:      {"dropped_peer", "mode 1 from a nopeer address"},
	OutDropRate:      {"dropped_rate", "over the discard or mode 6 limits, no KoD"},
	OutControl:       {"control", "mode 6 (ntpq) read or error answered"},
}

// String is the outcome's name: "replied", "kod", "dropped_rate", ….
func (o Outcome) String() string {
	if o < NumOutcomes {
		return outcomeNames[o].name
	}
	return fmt.Sprintf("outcome(%d)", uint8(o))
}

// Means says what the outcome is, for people.
func (o Outcome) Means() string {
	if o < NumOutcomes {
		return outcomeNames[o].means
	}
	return ""
}

// Dropped reports whether the packet got no reply.
func (o Outcome) Dropped() bool { return o >= OutDropMalformed && o < NumOutcomes }

// replies reports whether the outcome produces a 48-byte reply in the
// batch (mode 6 answers go out on their own, see mode6.go).
func (o Outcome) replies() bool { return o <= OutKoD }

// Stats are the server's counters since New. Every received packet lands in
// exactly one of Outcomes (once handled: the difference from Received is
// the packets in flight).
type Stats struct {
	Received   uint64              // packets read from the sockets
	Outcomes   [NumOutcomes]uint64 // by Outcome
	SendErrors uint64              // replies the kernel refused
	RecvErrors uint64              // failed reads
	// Interleaved counts the OutReply replies sent in interleaved mode
	// (xleave.go): with the kernel transmit time of the previous reply.
	Interleaved uint64
	// BusyNiceRefused counts the workers whose thread could not take
	// Config.BusyNice (no CAP_SYS_NICE, RLIMIT_NICE too low): they serve
	// at the priority they have (priority_linux.go).
	BusyNiceRefused uint64
}

// Dropped is the number of packets that got no reply.
func (s Stats) Dropped() uint64 {
	var n uint64
	for o, c := range s.Outcomes {
		if Outcome(o).Dropped() {
			n += c
		}
	}
	return n
}

// MarshalJSON writes the counters as one object keyed by name: received,
// each outcome's String, send_errors, recv_errors, interleaved,
// busy_nice_refused.
func (s Stats) MarshalJSON() ([]byte, error) {
	m := make(map[string]uint64, NumOutcomes+5)
	m["received"], m["send_errors"], m["recv_errors"] = s.Received, s.SendErrors, s.RecvErrors
	m["interleaved"], m["busy_nice_refused"] = s.Interleaved, s.BusyNiceRefused
	for o, c := range s.Outcomes {
		m[Outcome(o).String()] = c
	}
	return json.Marshal(m)
}

// UnmarshalJSON reads what MarshalJSON writes; unknown keys are ignored (a
// newer daemon may count more).
func (s *Stats) UnmarshalJSON(b []byte) error {
	var m map[string]uint64
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	*s = Stats{Received: m["received"], SendErrors: m["send_errors"], RecvErrors: m["recv_errors"],
		Interleaved: m["interleaved"], BusyNiceRefused: m["busy_nice_refused"]}
	for o := range s.Outcomes {
		s.Outcomes[o] = m[Outcome(o).String()]
	}
	return nil
}
