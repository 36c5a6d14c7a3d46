package ctl

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
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

// ErrInUse is returned by Listen when another live daemon answers on the
// socket path.
var ErrInUse = errors.New("control socket in use by another process")

// Listen creates the control socket at path with mode 0660 (owner and
// group: root or the gpsntp group may query; the status includes nothing
// secret, but the socket is the operator's). Its directory is created
// (0750) if missing. A stale socket file (nothing listening) is replaced; a
// live one is left alone and ErrInUse returned.
func Listen(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("control socket %s: %w", path, ErrInUse)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("control socket %s: remove stale: %w", path, err)
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
	return ln, nil
}

// Serve answers control requests on ln until ctx is done, with the snapshot
// get returns at the time of each request (nil: not ready yet). It closes
// ln when it returns.
func Serve(ctx context.Context, ln net.Listener, get func() *Snapshot) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	defer ln.Close()
	// At most a few requests at once: an operator's tool, not a service.
	sem := make(chan struct{}, 8)
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("control socket: accept: %w", err)
		}
		select {
		case sem <- struct{}{}:
		default:
			c.Close()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			serveConn(c, get)
		}()
	}
}

func serveConn(c net.Conn, get func() *Snapshot) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReaderSize(c, 256).ReadString('\n')
	if err != nil {
		return
	}
	enc := json.NewEncoder(c)
	switch strings.TrimSpace(line) {
	case "snapshot":
		s := get()
		if s == nil {
			enc.Encode(map[string]string{"error": "daemon starting, no status yet"})
			return
		}
		enc.Encode(s)
	default:
		enc.Encode(map[string]string{"error": fmt.Sprintf("unknown request %q (want snapshot)", strings.TrimSpace(line))})
	}
}

// Fetch asks the daemon at path for its snapshot.
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
		return nil, fmt.Errorf("gpsntpd: %s", e.Error)
	}
	var s Snapshot
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("control socket %s: decode: %w", path, err)
	}
	return &s, nil
}
