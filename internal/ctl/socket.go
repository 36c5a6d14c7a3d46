package ctl

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// DefaultSocket is the control socket of the appliance (systemd's
// RuntimeDirectory=gpsntp, or the image's /run).
const DefaultSocket = "/run/gpsntp/ctl.sock"

// SimSocket is the default control socket of a simulated daemon (gpsntpd
// -sim, run by a user): $XDG_RUNTIME_DIR/gpsntp/ctl.sock, or
// $TMPDIR/gpsntp-UID/ctl.sock.
func SimSocket() string {
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "gpsntp", "ctl.sock")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("gpsntp-%d", os.Getuid()), "ctl.sock")
}

// Limits of the control socket. It serves an operator's tool, not a
// service: a handful of clients, one short request each.
const (
	// MaxRequestBytes bounds a request line, newline included. A longer
	// line gets an error reply and the connection is closed: the daemon
	// never buffers more than this per client.
	MaxRequestBytes = 256
	// MaxClients is how many connections are served at once; one more
	// gets a "busy" reply.
	MaxClients = 8
	// IdleTimeout is how long a client may take to send its request.
	IdleTimeout = 5 * time.Second
	// maxBusyReplies bounds the goroutines answering "busy"; beyond them a
	// connection is closed unanswered (a flood, not an operator).
	maxBusyReplies = 16
	// replyTimeout bounds the write of a reply (a snapshot is a few KB).
	replyTimeout = 5 * time.Second
	// quoteBytes is how much of an unknown request the error quotes.
	quoteBytes = 32
)

// ErrInUse is returned by Listen when another live daemon answers on the
// socket path.
var ErrInUse = errors.New("another gpsntpd is serving")

// ErrBusy is returned by Fetch when the daemon is serving MaxClients
// other connections.
var ErrBusy = errors.New("gpsntpd busy")

// Listen is ListenGroup with no group: the socket's group is the
// process's.
func Listen(path string) (net.Listener, error) { return ListenGroup(path, -1) }

// ListenGroup creates the control socket at path, mode 0660, and gives it
// to group gid (gid < 0: left as created), so root and the members of gid
// (the .deb's gpsntp group) may query; the status holds nothing secret,
// but the socket is the operator's. A missing directory is created 0750
// and given to gid as well, so that group can reach the socket (a
// directory that exists, such as systemd's RuntimeDirectory, is left
// alone); missing parents are created 0755.
//
// Only a stale socket is replaced: a socket file nobody accepts on (a
// daemon that died). A live socket is left alone and an error wrapping
// ErrInUse returned; anything else at path (a regular file, a directory,
// a symlink) is an error and is not touched.
func ListenGroup(path string, gid int) (net.Listener, error) {
	dir := filepath.Dir(path)
	if err := makeDirMode(dir, 0o750, gid); err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	if err := removeStale(path); err != nil {
		return nil, err
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	// Closing the listener removes the file (net.UnixListener unlinks it).
	if err := os.Chmod(path, 0o660); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket %s: chmod: %w", path, err)
	}
	if gid >= 0 {
		if err := os.Lchown(path, -1, gid); err != nil {
			ln.Close()
			return nil, fmt.Errorf("control socket %s: chown to group %d: %w", path, gid, err)
		}
	}
	return ln, nil
}

// makeDirMode creates dir with mode and group gid (< 0: unchanged), after
// its missing parents (0755); one that exists is left as it is. Modes are
// set exactly, whatever the umask: a parent that came out 0700 would shut
// the group out as surely as the directory.
func makeDirMode(dir string, mode os.FileMode, gid int) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if parent := filepath.Dir(dir); parent != dir {
		if err := makeDirMode(parent, 0o755, -1); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, mode); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil // made meanwhile by someone else: theirs
		}
		return err
	}
	if err := os.Chmod(dir, mode); err != nil {
		return fmt.Errorf("chmod %s: %w", dir, err)
	}
	if gid >= 0 {
		if err := os.Lchown(dir, -1, gid); err != nil {
			return fmt.Errorf("chown %s to group %d: %w", dir, gid, err)
		}
	}
	return nil
}

// removeStale removes a socket file at path that nobody accepts on, and
// refuses to touch anything else.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("control socket %s: %w", path, err)
	}
	if fi.Mode().Type() != os.ModeSocket {
		return fmt.Errorf("control socket %s: %s is in the way; not removed", path, fileKind(fi.Mode()))
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("%w %s", ErrInUse, path)
	}
	// Only "connection refused" says nobody listens. EAGAIN is a full
	// backlog (someone is there, busy); EACCES leaves us unable to tell.
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("control socket %s: cannot tell whether a daemon serves it (%w); not removed", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("control socket %s: remove stale socket: %w", path, err)
	}
	return nil
}

// fileKind names a file type for an error message.
func fileKind(m os.FileMode) string {
	switch m.Type() {
	case 0:
		return "a regular file"
	case os.ModeDir:
		return "a directory"
	case os.ModeSymlink:
		return "a symbolic link"
	case os.ModeNamedPipe:
		return "a named pipe"
	case os.ModeDevice, os.ModeDevice | os.ModeCharDevice:
		return "a device"
	}
	return "a file of mode " + m.Type().String()
}

// server holds Serve's limits; tests shorten them.
type server struct {
	maxClients int
	idle       time.Duration
	get        func() *Snapshot
	active     atomic.Int32 // connections being served (tests watch it)
}

// Serve answers control requests on ln until ctx is done, with the snapshot
// get returns at the time of each request (nil: not ready yet). It closes
// ln when it returns. At most MaxClients connections are served at once,
// each for at most IdleTimeout before its request arrives; a request line
// is read up to MaxRequestBytes.
func Serve(ctx context.Context, ln net.Listener, get func() *Snapshot) error {
	s := &server{maxClients: MaxClients, idle: IdleTimeout, get: get}
	return s.serve(ctx, ln)
}

func (s *server) serve(ctx context.Context, ln net.Listener) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	defer ln.Close()
	sem := make(chan struct{}, s.maxClients)
	busy := make(chan struct{}, maxBusyReplies)
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("control socket: accept: %w", err)
		}
		// A free slot first (select picks among ready cases at random).
		select {
		case sem <- struct{}{}:
		default:
			s.refuse(c, busy, &wg)
			continue
		}
		s.active.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { s.active.Add(-1); <-sem }()
			defer c.Close()
			c.SetReadDeadline(time.Now().Add(s.idle))
			c.SetWriteDeadline(time.Now().Add(s.idle + replyTimeout))
			handle(c, s.get, s.idle)
		}()
	}
}

// refuse answers c "busy" from a goroutine of its own, or, when too many
// are answering already (a flood, not an operator), closes it unanswered.
func (s *server) refuse(c net.Conn, busy chan struct{}, wg *sync.WaitGroup) {
	select {
	case busy <- struct{}{}:
	default:
		c.Close()
		return
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer func() { <-busy }()
		defer c.Close()
		// Read the request first: closing a unix socket with unread data
		// resets the peer, and the client would see "connection reset"
		// instead of the reply.
		c.SetReadDeadline(time.Now().Add(time.Second))
		c.SetWriteDeadline(time.Now().Add(time.Second + replyTimeout))
		readRequest(bufio.NewReaderSize(c, MaxRequestBytes))
		writeError(c, fmt.Sprintf("busy: %d clients connected, try again", s.maxClients))
	}()
}

// errTooLong is readRequest's error for a line over MaxRequestBytes.
var errTooLong = fmt.Errorf("request longer than %d bytes", MaxRequestBytes)

// readRequest reads one request line, without its line ending, buffering
// at most MaxRequestBytes (br must be at least that size). A last line
// without a newline counts (a client that shut down its side).
func readRequest(br *bufio.Reader) (string, error) {
	line, err := br.ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull) || len(line) > MaxRequestBytes:
		return "", errTooLong
	case errors.Is(err, io.EOF) && len(line) > 0:
	case err != nil:
		return "", err
	}
	return strings.TrimRight(string(line), "\r\n"), nil
}

// handle answers one connection: one request, one JSON reply.
// idle is the read deadline's distance, for the message.
func handle(rw io.ReadWriter, get func() *Snapshot, idle time.Duration) {
	line, err := readRequest(bufio.NewReaderSize(rw, MaxRequestBytes))
	var ne net.Error
	switch {
	case errors.Is(err, errTooLong):
		writeError(rw, err.Error()+" (want snapshot)")
		return
	case errors.As(err, &ne) && ne.Timeout():
		writeError(rw, fmt.Sprintf("no request within %v", idle))
		return
	case err != nil:
		return
	}
	switch strings.TrimSpace(line) {
	case "snapshot":
		s := get()
		if s == nil {
			writeError(rw, "daemon starting, no status yet")
			return
		}
		json.NewEncoder(rw).Encode(s)
	default:
		writeError(rw, fmt.Sprintf("unknown request %s (want snapshot)", quotePrefix(line, quoteBytes)))
	}
}

// writeError sends {"error": msg} and a newline.
func writeError(w io.Writer, msg string) {
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// quotePrefix quotes at most n bytes of s, in ASCII, marking a cut.
func quotePrefix(s string, n int) string {
	if len(s) <= n {
		return strconv.QuoteToASCII(s)
	}
	return strconv.QuoteToASCII(s[:n]) + "..."
}

// Fetch asks the daemon at path for its snapshot. A daemon serving
// MaxClients others answers with an error wrapping ErrBusy.
func Fetch(path string, timeout time.Duration) (*Snapshot, error) {
	c, err := net.DialTimeout("unix", path, timeout)
	if err != nil {
		return nil, fmt.Errorf("connect to gpsntpd: %w", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write([]byte("snapshot\n")); err != nil {
		return nil, fmt.Errorf("control socket %s: write: %w", path, err)
	}
	var raw json.RawMessage
	if err := json.NewDecoder(c).Decode(&raw); err != nil {
		return nil, fmt.Errorf("control socket %s: read: %w", path, err)
	}
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(raw, &e) == nil && e.Error != "" {
		if strings.HasPrefix(e.Error, "busy:") {
			return nil, fmt.Errorf("%w: %s", ErrBusy, strings.TrimSpace(strings.TrimPrefix(e.Error, "busy:")))
		}
		return nil, fmt.Errorf("gpsntpd: %s", e.Error)
	}
	var s Snapshot
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("control socket %s: decode: %w", path, err)
	}
	return &s, nil
}
