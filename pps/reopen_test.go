package pps

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"
)

// scripted is a Source that returns its edges, then err.
type scripted struct {
	edges  []Edge
	err    error
	closed bool
}

func (s *scripted) Next(ctx context.Context) (Edge, error) {
	if len(s.edges) == 0 {
		return Edge{}, s.err
	}
	e := s.edges[0]
	s.edges = s.edges[1:]
	return e, nil
}

func (s *scripted) Close() error { s.closed = true; return nil }

// A device missing at start, then present, then failing, then back: Next
// delivers every edge in order and fails only when the context ends.
func TestReopeningRetries(t *testing.T) {
	missing := errors.New("open /dev/pps7: no such file or directory")
	var opened []*scripted
	attempts := 0
	open := func() (Source, error) {
		attempts++
		switch attempts {
		case 1, 2, 4:
			return nil, missing
		case 5:
			s := &scripted{edges: []Edge{{AssertNs: 3, Seq: 1}}, err: errors.New("read: gone again")}
			opened = append(opened, s)
			return s, nil
		case 3:
			s := &scripted{edges: []Edge{{AssertNs: 1, Seq: 1}, {AssertNs: 2, Seq: 2}}, err: errors.New("read: device vanished")}
			opened = append(opened, s)
			return s, nil
		}
		return nil, missing
	}
	r := NewReopening(open, time.Millisecond, 4*time.Millisecond)
	if err := r.TryOpen(); err == nil {
		t.Fatal("TryOpen with the device missing = nil, want its error")
	}
	if st := r.Status(); st.Open || st.Err != missing.Error() || st.Failures != 1 {
		t.Errorf("Status after a failed open = %+v, want not open, Err %q, 1 failure", st, missing)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for want := int64(1); want <= 3; want++ {
		e, err := r.Next(ctx)
		if err != nil || e.AssertNs != want {
			t.Fatalf("Next = %+v, %v, want edge %d", e, err, want)
		}
	}
	if !opened[0].closed {
		t.Error("the source whose read failed was not closed before reopening")
	}
	if st := r.Status(); !st.Open || st.Opens != 2 || st.Failures != 4 {
		t.Errorf("Status = %+v, want open, 2 opens, 4 failures", st)
	}
	short, cancelShort := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancelShort()
	if _, err := r.Next(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Next with only failures left = %v, want the context's error", err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(ctx); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Next after Close = %v, want os.ErrClosed", err)
	}
}
