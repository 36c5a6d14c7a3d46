package pps

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// GPIO reads edges from one line of a GPIO character device with the v2
// uAPI (Linux ≥ 5.10; CLOCK_REALTIME event stamps need ≥ 5.11). The kernel
// stamps each edge in its interrupt handler. Next and Close may be called
// from different goroutines.
type GPIO struct {
	name  string // "/dev/gpiochip0 line 18", for errors
	f     *os.File
	l     gpioLayout
	want  uint32 // GPIO_V2_LINE_EVENT_RISING_EDGE or _FALLING_EDGE
	mu    sync.Mutex
	buf   []byte
	queue []gpioEvent
}

// OpenGPIO finds cfg.Chip, requests cfg.Line as an input with edge detection
// on cfg.Edge and CLOCK_REALTIME event timestamps, and returns the source.
func OpenGPIO(cfg GPIOConfig) (*GPIO, error) {
	a, err := hostABI()
	if err != nil {
		return nil, err
	}
	l := a.gpio()
	chip, cf, err := findChip(l, cfg.Chip)
	if err != nil {
		return nil, err
	}
	defer cf.Close()
	name := fmt.Sprintf("%s line %d", chip, cfg.Line)

	flags := uint64(gpioV2LineFlagInput | gpioV2LineFlagEventClockRealtime)
	want := uint32(gpioV2LineEventRisingEdge)
	if cfg.Edge == Falling {
		flags |= gpioV2LineFlagEdgeFalling
		want = gpioV2LineEventFallingEdge
	} else {
		flags |= gpioV2LineFlagEdgeRising
	}
	switch cfg.Bias {
	case "":
	case "pull-down":
		flags |= gpioV2LineFlagBiasPullDown
	case "pull-up":
		flags |= gpioV2LineFlagBiasPullUp
	case "disable":
		flags |= gpioV2LineFlagBiasDisabled
	default:
		return nil, fmt.Errorf("pps: GPIO bias %q: want pull-down, pull-up or disable", cfg.Bias)
	}
	consumer := cfg.Consumer
	if consumer == "" {
		consumer = "gpsntp-pps"
	}
	req := make([]byte, l.reqSize)
	l.putLineRequest(req, cfg.Line, consumer, flags)
	if err := ioctlFile(cf, "GPIO_V2_GET_LINE_IOCTL", l.getLineIoctl, unsafe.Pointer(&req[0])); err != nil {
		switch {
		case errors.Is(err, unix.EBUSY):
			err = fmt.Errorf("%w (line in use: is dtoverlay=pps-gpio on this pin? then use its /dev/ppsN instead)", err)
		case errors.Is(err, unix.EINVAL):
			err = fmt.Errorf("%w (line offset out of range, or kernel older than 5.11 without GPIO_V2_LINE_FLAG_EVENT_CLOCK_REALTIME)", err)
		}
		return nil, pathErr("open", name, err)
	}
	fd := int(l.lineRequestFd(req))
	// Non-blocking before os.NewFile so the runtime poller owns it and
	// read deadlines work.
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, pathErr("open", name, fmt.Errorf("fcntl(O_NONBLOCK): %w", err))
	}
	return &GPIO{
		name: name,
		f:    os.NewFile(uintptr(fd), name),
		l:    l,
		want: want,
		buf:  make([]byte, 16*l.eventSize), // the kernel's default queue is 16 events per line
	}, nil
}

// findChip opens the chip named by path or label.
func findChip(l gpioLayout, chip string) (string, *os.File, error) {
	if chip == "" {
		return "", nil, errors.New("pps: GPIOConfig.Chip is empty: give the chip's label (board.Board.GPIOChip, e.g. pinctrl-bcm2711) or a /dev/gpiochipN path")
	}
	if strings.HasPrefix(chip, "/") {
		f, err := os.OpenFile(chip, os.O_RDWR, 0)
		return chip, f, err
	}
	paths, _ := filepath.Glob("/dev/gpiochip*")
	slices.Sort(paths)
	var seen []string
	info := make([]byte, l.chipInfoSize)
	for _, p := range paths {
		f, err := os.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			seen = append(seen, p+": "+err.Error())
			continue
		}
		if err := ioctlFile(f, "GPIO_GET_CHIPINFO_IOCTL", l.chipInfoIoctl, unsafe.Pointer(&info[0])); err != nil {
			f.Close()
			seen = append(seen, p+": "+err.Error())
			continue
		}
		_, label, _ := l.chipInfo(info)
		if label == chip {
			return p, f, nil
		}
		f.Close()
		seen = append(seen, p+" is "+label)
	}
	if len(seen) == 0 {
		return "", nil, fmt.Errorf("pps: no GPIO chip labelled %q: no /dev/gpiochip* devices", chip)
	}
	return "", nil, fmt.Errorf("pps: no GPIO chip labelled %q (%s)", chip, strings.Join(seen, "; "))
}

// Next returns the next edge of the configured polarity. Edges the kernel
// queued while nobody was reading come out in order; a kernel queue overflow
// shows as a gap in Seq.
func (g *GPIO) Next(ctx context.Context) (Edge, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for {
		for len(g.queue) > 0 {
			ev := g.queue[0]
			g.queue = g.queue[1:]
			if ev.ID != g.want {
				continue
			}
			// line_seqno counts this line's events from 1; both edges
			// count if both were requested, which we never do.
			return Edge{AssertNs: int64(ev.TimestampNs), Seq: ev.LineSeqno}, nil
		}
		g.queue = g.queue[:0]
		if err := g.read(ctx); err != nil {
			return Edge{}, err
		}
	}
}

func (g *GPIO) read(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	dl, _ := ctx.Deadline()
	if err := g.f.SetReadDeadline(dl); err != nil {
		return pathErr("read", g.name, err)
	}
	stop := context.AfterFunc(ctx, func() { g.f.SetReadDeadline(time.Unix(1, 0)) })
	n, err := g.f.Read(g.buf)
	stop()
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if !dl.IsZero() && !time.Now().Before(dl) {
				return context.DeadlineExceeded
			}
			// A previous call's AfterFunc fired late; read again.
			return nil
		}
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return pathErr("read", g.name, err)
	}
	for off := 0; off+int(g.l.eventSize) <= n; off += int(g.l.eventSize) {
		g.queue = append(g.queue, g.l.getEvent(g.buf[off:]))
	}
	return nil
}

// Close releases the line. A blocked Next returns an error.
func (g *GPIO) Close() error { return g.f.Close() }
