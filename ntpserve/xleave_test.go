package ntpserve

import (
	"encoding/binary"
	"sync"
	"testing"
)

func xreq(org, rec, xmt uint64) []byte {
	b := make([]byte, HeaderLen)
	b[0] = 4<<3 | ModeClient
	binary.BigEndian.PutUint64(b[24:], org)
	binary.BigEndian.PutUint64(b[32:], rec)
	binary.BigEndian.PutUint64(b[40:], xmt)
	return b
}

// TestXleaveDecision: which requests are answered interleaved, which
// record their reply's transmit time, and what an interleaved reply
// carries (draft-ietf-ntp-interleaved-modes; chronyd's server).
func TestXleaveDecision(t *testing.T) {
	var tab xleaveTable
	const prevRx, prevTx = 0xE000_0001_1234_5678, 0xE000_0001_1234_9999
	tab.put(prevRx, prevTx)
	for _, tt := range []struct {
		name              string
		org, rec, xmt     uint64
		interleaved, rec_ bool
	}{
		{"basic client (SNTP, chronyd without xleave): origin 0", 0, 0, 77, false, false},
		{"receive equals transmit: basic", prevRx, 77, 77, false, false},
		{"first request of an interleaved client: origin unknown", 0xE000_0002_0000_0000, 5, 77, false, true},
		{"interleaved: origin is our previous receive timestamp", prevRx, 5, 77, true, true},
	} {
		req := xreq(tt.org, tt.rec, tt.xmt)
		resp := make([]byte, HeaderLen)
		binary.BigEndian.PutUint64(resp[24:], tt.xmt) // basic origin, as build writes it
		il, rec := tab.xleave(req, resp)
		if il != tt.interleaved || rec != tt.rec_ {
			t.Errorf("%s: interleaved %v record %v, want %v %v", tt.name, il, rec, tt.interleaved, tt.rec_)
		}
		if il {
			if o, x := binary.BigEndian.Uint64(resp[24:]), binary.BigEndian.Uint64(resp[40:]); o != tt.rec || x != prevTx {
				t.Errorf("%s: reply origin %#x transmit %#x, want the request's receive %#x and the recorded %#x", tt.name, o, x, tt.rec, uint64(prevTx))
			}
		}
	}
}

// TestXleaveTable: entries are found by key, a colliding key replaces the
// slot (that client gets one basic reply), key 0 is never stored, and
// concurrent writers never make a reader see a transmit time that belongs
// to another key.
func TestXleaveTable(t *testing.T) {
	var tab xleaveTable
	if _, ok := tab.get(0); ok {
		t.Fatal("get(0) found something")
	}
	tab.put(0, 5)
	if _, ok := tab.get(0); ok {
		t.Fatal("put(0) stored")
	}
	tab.put(1000, 2000)
	if tx, ok := tab.get(1000); !ok || tx != 2000 {
		t.Fatalf("get(1000) = %d, %v", tx, ok)
	}
	// Find another key in the same slot.
	other := uint64(1001)
	for xleaveSlot(other) != xleaveSlot(1000) {
		other++
	}
	tab.put(other, 3000)
	if _, ok := tab.get(1000); ok {
		t.Error("the replaced key is still found")
	}
	if tx, ok := tab.get(other); !ok || tx != 3000 {
		t.Errorf("get(other) = %d, %v", tx, ok)
	}

	// Writers store tx = key + 1 for keys that share slots; readers must
	// only ever see tx = key + 1 for the key they asked.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := uint64(1); ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := i<<20 | uint64(w)
				tab.put(k, k+1)
			}
		}()
	}
	bad := 0
	for i := uint64(1); i < 200000; i++ {
		for w := range 4 {
			k := i<<20 | uint64(w)
			if tx, ok := tab.get(k); ok && tx != k+1 {
				bad++
			}
		}
	}
	close(stop)
	wg.Wait()
	if bad > 0 {
		t.Errorf("%d reads saw another key's transmit time", bad)
	}
}
