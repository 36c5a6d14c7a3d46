package pps

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"
)

var errClosed = fmt.Errorf("pps: reopening source: %w", os.ErrClosed)

// Reopening is a Source that is never fatal: a device missing at start
// (/dev/pps0 appears only after the reboot that loads the pps-gpio
// overlay), one that vanishes, or one whose read fails is closed and opened
// again with backoff, and Next waits meanwhile. The daemon serves NMEA time
// or holdover while no edges come (discipline.Engine), and shows Status as
// an alarm.
type Reopening struct {
	open       func() (Source, error)
	minBackoff time.Duration
	maxBackoff time.Duration

	mu     sync.Mutex // guards cur and st against Status and Close
	cur    Source
	st     ReopenStatus
	closed bool
}

// ReopenStatus is what the operator sees of a Reopening source.
type ReopenStatus struct {
	Open bool
	// Err is the last open or read failure ("" once open and reading).
	Err string
	// Opens counts successful opens; Failures failed opens and reads.
	Opens, Failures uint64
	// Since is when the source last became open, or last failed.
	Since time.Time
}

// NewReopening returns a source that opens through open on first use (or
// TryOpen) and after every failure, waiting minBackoff after the first
// failure and doubling up to maxBackoff (defaults 1 s and 30 s).
func NewReopening(open func() (Source, error), minBackoff, maxBackoff time.Duration) *Reopening {
	if minBackoff <= 0 {
		minBackoff = time.Second
	}
	if maxBackoff < minBackoff {
		maxBackoff = max(minBackoff, 30*time.Second)
	}
	return &Reopening{open: open, minBackoff: minBackoff, maxBackoff: maxBackoff}
}

// TryOpen opens the device now if it is not open (the daemon calls it
// before dropping privileges, so that a root-only device stays usable).
func (r *Reopening) TryOpen() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.openLocked()
}

func (r *Reopening) openLocked() error {
	if r.cur != nil || r.closed {
		return nil
	}
	s, err := r.open()
	if err != nil {
		r.fail(err)
		return err
	}
	r.cur = s
	r.st.Open, r.st.Err, r.st.Since = true, "", time.Now()
	r.st.Opens++
	return nil
}

func (r *Reopening) fail(err error) {
	r.st.Open, r.st.Err, r.st.Since = false, err.Error(), time.Now()
	r.st.Failures++
}

// Next returns the next edge. It fails only when ctx is done or the
// source is closed: device errors are retried.
func (r *Reopening) Next(ctx context.Context) (Edge, error) {
	backoff := r.minBackoff
	for {
		if err := ctx.Err(); err != nil {
			return Edge{}, err
		}
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			return Edge{}, errClosed
		}
		err := r.openLocked()
		cur := r.cur
		r.mu.Unlock()
		if err == nil {
			e, err := cur.Next(ctx)
			if err == nil {
				return e, nil
			}
			if ctx.Err() != nil {
				return Edge{}, ctx.Err()
			}
			r.mu.Lock()
			if r.cur == cur {
				r.cur = nil
				cur.Close()
			}
			r.fail(err)
			r.mu.Unlock()
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return Edge{}, ctx.Err()
		case <-t.C:
		}
		backoff = min(2*backoff, r.maxBackoff)
	}
}

// Status reports whether the device is open and the last failure.
func (r *Reopening) Status() ReopenStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.st
}

// Close closes the device, if open; Next then fails.
func (r *Reopening) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	if r.cur == nil {
		return nil
	}
	err := r.cur.Close()
	r.cur = nil
	return err
}
