package pps

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
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
	want  uint32 // GPIO_V2_LINE_EVENT_RISING_EDGE or _FALLING_EDGE
	mu    sync.Mutex
	evs   []unix.GPIOV2LineEvent // read buffer
	queue []unix.GPIOV2LineEvent // the part of evs not yet returned
}

// OpenGPIO finds cfg.Chip, requests cfg.Line as an input with edge detection
// on cfg.Edge and CLOCK_REALTIME event timestamps, and returns the source.
func OpenGPIO(cfg GPIOConfig) (*GPIO, error) {
	chip, cf, err := findChip(cfg.Chip)
	if err != nil {
		return nil, err
	}
	defer cf.Close()
	name := fmt.Sprintf("%s line %d", chip, cfg.Line)

	flags := uint64(gpioV2LineFlagInput | gpioV2LineFlagEventClockRealtime)
	want := uint32(unix.GPIO_V2_LINE_EVENT_RISING_EDGE)
	if cfg.Edge == Falling {
		flags |= gpioV2LineFlagEdgeFalling
		want = unix.GPIO_V2_LINE_EVENT_FALLING_EDGE
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
	req := lineRequest(cfg.Line, consumer, flags)
	if err := ioctlFile(cf, "GPIO_V2_GET_LINE_IOCTL", unix.GPIO_V2_GET_LINE_IOCTL, unsafe.Pointer(&req)); err != nil {
		switch {
		case errors.Is(err, unix.EBUSY):
			who := "another driver or process"
			if li, lerr := lineInfo(cf, chip, cfg.Line); lerr == nil && li.Consumer != "" {
				who = strconv.Quote(li.Consumer)
			}
			err = fmt.Errorf("%w (line in use by %s: is dtoverlay=pps-gpio on this pin? then use its /dev/ppsN instead)", err, who)
		case errors.Is(err, unix.EINVAL):
			err = fmt.Errorf("%w (line offset out of range, or kernel older than 5.11 without GPIO_V2_LINE_FLAG_EVENT_CLOCK_REALTIME)", err)
		}
		return nil, pathErr("open", name, err)
	}
	fd := int(req.Fd)
	// Non-blocking before os.NewFile so the runtime poller owns it and
	// read deadlines work.
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, pathErr("open", name, fmt.Errorf("fcntl(O_NONBLOCK): %w", err))
	}
	return &GPIO{
		name: name,
		f:    os.NewFile(uintptr(fd), name),
		want: want,
		evs:  make([]unix.GPIOV2LineEvent, 16), // the kernel's default queue is 16 events per line
	}, nil
}

// lineRequest is a struct gpio_v2_line_request for one line; consumer is
// cut to fit with its NUL.
func lineRequest(offset uint32, consumer string, flags uint64) unix.GPIOV2LineRequest {
	var req unix.GPIOV2LineRequest
	req.Offsets[0] = offset
	copy(req.Consumer[:len(req.Consumer)-1], consumer)
	req.Config.Flags = flags
	req.Num_lines = 1
	return req
}

// GPIOLineInfo returns the state of line on chip (label or path).
func GPIOLineInfo(chip string, line uint32) (LineInfo, error) {
	path, f, err := findChip(chip)
	if err != nil {
		return LineInfo{}, err
	}
	defer f.Close()
	return lineInfo(f, path, line)
}

func lineInfo(f *os.File, path string, line uint32) (LineInfo, error) {
	var ci unix.GPIOChipInfo
	if err := ioctlFile(f, "GPIO_GET_CHIPINFO_IOCTL", unix.GPIO_GET_CHIPINFO_IOCTL, unsafe.Pointer(&ci)); err != nil {
		return LineInfo{}, pathErr("line info", path, err)
	}
	li := unix.GPIOV2LineInfo{Offset: line}
	if err := ioctlFile(f, "GPIO_V2_GET_LINEINFO_IOCTL", unix.GPIO_V2_GET_LINEINFO_IOCTL, unsafe.Pointer(&li)); err != nil {
		return LineInfo{}, pathErr("line info", fmt.Sprintf("%s line %d", path, line), err)
	}
	out := LineInfo{
		Chip: path, Label: unix.ByteSliceToString(ci.Label[:]), ChipLines: ci.Lines, Line: line,
		Name: unix.ByteSliceToString(li.Name[:]), Consumer: unix.ByteSliceToString(li.Consumer[:]),
		Flags: []string{},
	}
	for bit, name := range gpioV2FlagNames {
		if li.Flags&(1<<bit) != 0 {
			out.Flags = append(out.Flags, name)
		}
	}
	return out, nil
}

// findChip opens the chip named by path or label.
func findChip(chip string) (string, *os.File, error) {
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
	var info unix.GPIOChipInfo
	for _, p := range paths {
		f, err := os.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			seen = append(seen, p+": "+err.Error())
			continue
		}
		if err := ioctlFile(f, "GPIO_GET_CHIPINFO_IOCTL", unix.GPIO_GET_CHIPINFO_IOCTL, unsafe.Pointer(&info)); err != nil {
			f.Close()
			seen = append(seen, p+": "+err.Error())
			continue
		}
		label := unix.ByteSliceToString(info.Label[:])
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
			if ev.Id != g.want {
				continue
			}
			// line_seqno counts this line's events from 1; both edges
			// count if both were requested, which we never do.
			return Edge{AssertNs: int64(ev.Timestamp_ns), Seq: ev.Line_seqno}, nil
		}
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
	size := int(unsafe.Sizeof(g.evs[0]))
	n, err := g.f.Read(unsafe.Slice((*byte)(unsafe.Pointer(&g.evs[0])), len(g.evs)*size))
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
		// os.File.Read names the file already; name it once.
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return pathErr("read", g.name, err)
	}
	g.queue = g.evs[:n/size] // whole events only
	return nil
}

// Close releases the line. A blocked Next returns an error.
func (g *GPIO) Close() error { return g.f.Close() }
