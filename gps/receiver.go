package gps

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.bug.st/serial"
)

// AutoBaudRates are tried in order when Config.Baud is 0: the NMEA default
// first, then what receivers ship with or are commonly set to.
var AutoBaudRates = []int{9600, 4800, 38400, 115200, 19200, 57600}

// DeviceState is the serial device's state as Stats reports it.
type DeviceState int

const (
	DeviceConnecting DeviceState = iota // not opened yet, or detecting the baud rate
	DeviceOpen                          // open and being read
	DeviceLost                          // vanished or failed; Run retries with backoff
)

func (s DeviceState) String() string {
	switch s {
	case DeviceConnecting:
		return "connecting"
	case DeviceOpen:
		return "open"
	case DeviceLost:
		return "lost"
	}
	return fmt.Sprintf("DeviceState(%d)", int(s))
}

// Config configures a Receiver. The zero value of every field but Device
// means its default.
type Config struct {
	// Device is the serial device path (/dev/serial0, /dev/ttyUSB0, a pty).
	Device string
	// Baud is the line rate (8N1). 0: detect among AutoBaudRates, settling
	// on the first rate that yields lines with valid checksums.
	Baud int
	// ReferenceDate is a date the true UTC date is known not to precede:
	// the GPS week rollover floor and the two-digit-year pivot (see
	// UnfoldRollover, PivotYear). Zero: DefaultReferenceDate (which gpsntpd
	// raises to the build's commit time and the last persisted time).
	// Never derived from the system clock.
	ReferenceDate time.Time
	// ReadTimeout bounds one read (default 20 ms): how often Run notices
	// cancellation and a quiet line.
	ReadTimeout time.Duration
	// IdleFlush: an epoch in progress is emitted once the line has been quiet
	// this long (default DefaultBurstGap), in case its cycle-ending sentence
	// has not been learnt yet; a silence this long before a sentence also
	// separates two bursts (the assembler's burst gap).
	IdleFlush time.Duration
	// ReopenMin, ReopenMax bound the reopen backoff (defaults 100 ms, 5 s).
	ReopenMin, ReopenMax time.Duration
	// AutoBaudWindow is how long each rate is listened to (default 2.5 s).
	AutoBaudWindow time.Duration
	// Init are written to the receiver after every open (after the baud
	// rate is known, and again after each reopen: a USB receiver that was
	// unplugged has lost its settings), in order, each a complete frame
	// with its checksum: board.Receiver.InitCommands. They are written
	// while the port is already being read, paced: after each command the
	// next waits until the command has left the wire (10 bits a byte at the
	// line rate) plus InitGap, so a receiver's command parser is never fed
	// faster than it can take (MTK modules drop back-to-back PMTK commands).
	Init [][]byte
	// InitGap is the pause after each init command (default 100 ms).
	InitGap time.Duration
}

// Stats is a snapshot of a Receiver.
type Stats struct {
	Device    DeviceState
	DeviceErr string // last open/read error ("" none)
	Baud      int    // rate in use (0 while detecting)
	Opens     uint64 // successful opens
	Losses    uint64 // device lost after being open
	BytesRead uint64
	Fixes     uint64 // fixes delivered
	InitSent  uint64 // init commands written (Config.Init, after each open)
	InitErr   string // last init write error ("" none)
	Dropped   uint64 // fixes dropped because out was full
	Stream    StreamStats
}

// Receiver reads NMEA from a serial port and delivers one Fix per epoch.
type Receiver struct {
	cfg    Config
	stream *Stream

	mu    sync.Mutex
	stats Stats
	// pre is the device opened by Preopen for Run's first open, at rate
	// preBaud.
	pre     serial.Port
	preBaud int
}

// Open validates cfg and returns a Receiver. It does not touch the device:
// Run opens it (or takes the one Preopen opened), and reopens it with
// backoff whenever it disappears (a USB receiver unplugged, a pty closed),
// reporting the state in Stats.
func Open(cfg Config) (*Receiver, error) {
	if cfg.Device == "" {
		return nil, errors.New("gps: no device configured")
	}
	if cfg.Baud < 0 || (cfg.Baud > 0 && cfg.Baud < 300) {
		return nil, fmt.Errorf("gps: %s: baud %d out of range", cfg.Device, cfg.Baud)
	}
	if cfg.ReferenceDate.IsZero() {
		cfg.ReferenceDate = DefaultReferenceDate
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = 20 * time.Millisecond
	}
	if cfg.IdleFlush <= 0 {
		cfg.IdleFlush = DefaultBurstGap
	}
	if cfg.ReopenMin <= 0 {
		cfg.ReopenMin = 100 * time.Millisecond
	}
	if cfg.ReopenMax < cfg.ReopenMin {
		cfg.ReopenMax = max(5*time.Second, cfg.ReopenMin)
	}
	if cfg.AutoBaudWindow <= 0 {
		cfg.AutoBaudWindow = 2500 * time.Millisecond
	}
	if cfg.InitGap <= 0 {
		cfg.InitGap = 100 * time.Millisecond
	}
	cmds := make([][]byte, 0, len(cfg.Init))
	for i, c := range cfg.Init {
		if len(c) == 0 {
			return nil, fmt.Errorf("gps: %s: init command %d is empty", cfg.Device, i)
		}
		cmds = append(cmds, append([]byte(nil), c...))
	}
	cfg.Init = cmds
	return &Receiver{cfg: cfg, stream: newStream(cfg.ReferenceDate, cfg.IdleFlush)}, nil
}

// Stats returns a snapshot (safe to call from any goroutine).
func (r *Receiver) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

func (r *Receiver) setState(st DeviceState, err error) {
	r.mu.Lock()
	r.stats.Device = st
	if err != nil {
		r.stats.DeviceErr = err.Error()
	}
	r.mu.Unlock()
}

// byteNs is the wire time of one byte: start bit, 8 data bits, stop bit.
func byteNs(baud int) int64 { return 10 * int64(time.Second) / int64(baud) }

// Run reads until ctx is done, sending each epoch's Fix on out. Sends never
// block (a blocked reader would timestamp late): when out is full the fix is
// dropped and counted, so give out a buffer. Run returns ctx.Err().
func (r *Receiver) Run(ctx context.Context, out chan<- Fix) error {
	backoff := r.cfg.ReopenMin
	lastGood := r.cfg.Baud
	for ctx.Err() == nil {
		port, baud, err := r.open(ctx, lastGood)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			r.setState(DeviceLost, err)
			sleepCtx(ctx, backoff)
			backoff = min(2*backoff, r.cfg.ReopenMax)
			continue
		}
		backoff = r.cfg.ReopenMin
		lastGood = baud
		r.mu.Lock()
		r.stats.Device, r.stats.DeviceErr, r.stats.Baud = DeviceOpen, "", baud
		r.stats.Opens++
		r.mu.Unlock()
		initCtx, stopInit := context.WithCancel(ctx)
		initDone := make(chan struct{})
		go func() {
			defer close(initDone)
			r.writeInit(initCtx, port, baud)
		}()
		err = r.read(ctx, port, baud, out)
		stopInit()
		// Close only once the writer is out of Write (a write racing Close
		// could hit a reused descriptor), but do not hang on a writer stuck
		// behind a full output queue (nobody reading the far side).
		select {
		case <-initDone:
		case <-time.After(time.Second):
		}
		port.Close()
		if ctx.Err() != nil {
			break
		}
		r.mu.Lock()
		r.stats.Losses++
		r.mu.Unlock()
		r.setState(DeviceLost, err)
	}
	if r.pre != nil { // never taken: stopped before the first open
		r.pre.Close()
		r.pre = nil
	}
	r.setState(DeviceLost, nil)
	return ctx.Err()
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func (r *Receiver) openAt(baud int) (serial.Port, error) {
	p, err := serial.Open(r.cfg.Device, &serial.Mode{BaudRate: baud, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", r.cfg.Device, err)
	}
	if err := p.SetReadTimeout(r.cfg.ReadTimeout); err != nil {
		p.Close()
		return nil, fmt.Errorf("open %s: set read timeout: %w", r.cfg.Device, err)
	}
	// Bytes queued before we opened carry no usable arrival time.
	if err := p.ResetInputBuffer(); err != nil {
		p.Close()
		return nil, fmt.Errorf("open %s: flush input: %w", r.cfg.Device, err)
	}
	return p, nil
}

// Preopen opens the device now, for Run to start with: a daemon started as
// root opens it before it drops privileges (later reopens, after the
// device was lost, need the user's own access: the dialout group). An
// error is only reported; Run tries again.
func (r *Receiver) Preopen() error {
	b := r.cfg.Baud
	if b == 0 {
		b = AutoBaudRates[0]
	}
	p, err := r.openAt(b)
	if err != nil {
		return err
	}
	r.pre, r.preBaud = p, b
	return nil
}

// open opens the device (or takes the preopened one) at the configured
// rate, or detects the rate (trying first the last rate that worked). One
// descriptor serves every rate tried: the rate is changed on it
// (tcsetattr), so detection needs no reopen.
func (r *Receiver) open(ctx context.Context, first int) (serial.Port, int, error) {
	rates := []int{r.cfg.Baud}
	if r.cfg.Baud == 0 {
		r.setState(DeviceConnecting, nil)
		rates = rates[:0]
		if first > 0 {
			rates = append(rates, first)
		}
		for _, b := range AutoBaudRates {
			if b != first {
				rates = append(rates, b)
			}
		}
	}
	p, at := r.pre, r.preBaud
	r.pre = nil
	if p == nil {
		var err error
		if p, err = r.openAt(rates[0]); err != nil {
			return nil, 0, err
		}
		at = rates[0]
	}
	for _, b := range rates {
		if ctx.Err() != nil {
			p.Close()
			return nil, 0, ctx.Err()
		}
		if b != at {
			if err := r.setRate(p, b); err != nil {
				p.Close()
				return nil, 0, err
			}
			at = b
		}
		if r.cfg.Baud > 0 {
			return p, b, nil
		}
		ok, err := r.probe(ctx, p)
		if ok {
			return p, b, nil
		}
		if err != nil {
			p.Close()
			return nil, 0, err
		}
	}
	p.Close()
	return nil, 0, fmt.Errorf("open %s: no valid NMEA at %v baud", r.cfg.Device, rates)
}

// setRate changes an open port's rate and drops what was read at the old
// one.
func (r *Receiver) setRate(p serial.Port, baud int) error {
	if err := p.SetMode(&serial.Mode{BaudRate: baud, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit}); err != nil {
		return fmt.Errorf("%s: set %d baud: %w", r.cfg.Device, baud, err)
	}
	if err := p.ResetInputBuffer(); err != nil {
		return fmt.Errorf("%s: flush input: %w", r.cfg.Device, err)
	}
	return nil
}

// probe listens for up to AutoBaudWindow and reports whether two lines with
// valid checksums arrived. The probed bytes are not decoded further.
func (r *Receiver) probe(ctx context.Context, p serial.Port) (bool, error) {
	var fr Framer
	buf := make([]byte, 1024)
	deadline := time.Now().Add(r.cfg.AutoBaudWindow)
	nop := func(Line) {}
	for time.Now().Before(deadline) && ctx.Err() == nil {
		n, err := p.Read(buf)
		if err != nil {
			return false, fmt.Errorf("read %s: %w", r.cfg.Device, err)
		}
		fr.Feed(buf[:n], 0, 0, nop)
		if fr.Stats().ChecksumOK >= 2 {
			return true, nil
		}
	}
	return false, nil
}

// writeInit writes Config.Init, paced (see Config.Init), until done or ctx
// is cancelled (the port was lost or Run is stopping).
func (r *Receiver) writeInit(ctx context.Context, p serial.Port, baud int) {
	bt := byteNs(baud)
	for i, cmd := range r.cfg.Init {
		if ctx.Err() != nil {
			return
		}
		for b := cmd; len(b) > 0; {
			n, err := p.Write(b)
			if err != nil {
				r.mu.Lock()
				r.stats.InitErr = fmt.Sprintf("write %s: init command %d: %v", r.cfg.Device, i, err)
				r.mu.Unlock()
				return
			}
			b = b[n:]
		}
		r.mu.Lock()
		r.stats.InitSent++
		r.mu.Unlock()
		sleepCtx(ctx, time.Duration(int64(len(cmd))*bt)+r.cfg.InitGap)
	}
}

// read is the read loop for one open port. Each chunk is timestamped when
// the read returns; its first byte arrived (n-1) byte times earlier (the
// last byte has just arrived; the UART delivers bytes back to back inside a
// burst).
func (r *Receiver) read(ctx context.Context, p serial.Port, baud int, out chan<- Fix) error {
	r.stream.Resync()
	bt := byteNs(baud)
	buf := make([]byte, 4096)
	var fixes []Fix
	var lastByteNs int64
	for {
		if ctx.Err() != nil {
			return nil
		}
		n, err := p.Read(buf)
		nowNs := time.Now().UnixNano()
		if err != nil {
			// go.bug.st/serial: PortClosed when unplugged; EIO on a closed pty.
			return fmt.Errorf("read %s: %w", r.cfg.Device, err)
		}
		fixes = fixes[:0]
		if n == 0 { // (0, nil) is the read timeout, not EOF
			if r.stream.pending() && nowNs-lastByteNs >= int64(r.cfg.IdleFlush) {
				fixes = r.stream.Flush(fixes)
			}
		} else {
			fixes = r.stream.Feed(fixes, buf[:n], nowNs-int64(n-1)*bt, bt)
			lastByteNs = nowNs
		}
		var sent, dropped uint64
		for _, f := range fixes {
			select {
			case out <- f:
				sent++
			default:
				dropped++
			}
		}
		r.mu.Lock()
		r.stats.BytesRead += uint64(n)
		r.stats.Fixes += sent
		r.stats.Dropped += dropped
		if n > 0 || len(fixes) > 0 {
			r.stats.Stream = r.stream.Stats()
		}
		r.mu.Unlock()
	}
}
