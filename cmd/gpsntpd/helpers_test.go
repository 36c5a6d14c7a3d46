package main

import (
	"context"
	"os"
	"os/user"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/gpsntp/gpsntp/gps/sim"
	"github.com/gpsntp/gpsntp/internal/simtime"
)

// terminal is a pty pair for a console test: the daemon gets the slave's
// name, the test reads what it draws on the master.
type terminal struct {
	master, slave *os.File
	mu            sync.Mutex
	screen        []byte
}

// newTerminal opens a pty and reads its master until the test ends.
func newTerminal(t *testing.T) *terminal {
	t.Helper()
	master, slave, err := pty.Open()
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	t.Cleanup(func() { master.Close(); slave.Close() })
	term := &terminal{master: master, slave: slave}
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := master.Read(b)
			term.mu.Lock()
			term.screen = append(term.screen, b[:n]...)
			term.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return term
}

// drawn is everything the daemon drew so far.
func (term *terminal) drawn() []byte {
	term.mu.Lock()
	defer term.mu.Unlock()
	return append([]byte(nil), term.screen...)
}

// simReceiver runs the simulated receiver on a fresh pty, its GPS time
// offsetNs from the host clock, until the test ends; it returns the
// device the daemon reads.
func simReceiver(t *testing.T, offsetNs int64, seed uint64) string {
	t.Helper()
	master, slave, err := sim.OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); master.Close() })
	rx, err := sim.New(sim.Config{Timeline: simtime.Timeline{StartHostNs: time.Now().UnixNano(), OffsetNs: offsetNs}, Baud: 9600, Seed: seed}, master)
	if err != nil {
		t.Fatal(err)
	}
	go rx.Run(ctx)
	return slave
}

// needRootAndNobody skips a test of the privilege drop where it cannot
// run: not root (the daemon drops privileges only when started as root),
// or no user nobody.
func needRootAndNobody(t *testing.T) *user.User {
	t.Helper()
	if testing.Short() {
		t.Skip("end to end")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: the daemon drops privileges only when started as root")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skipf("no user nobody: %v", err)
	}
	return nobody
}
