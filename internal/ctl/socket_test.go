package ctl

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// serveTest runs s on a fresh socket and returns its path; the server
// stops at the end of the test.
func serveTest(t *testing.T, s *server) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ctl.sock")
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve = %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("serve did not return within 10 s of cancel")
		}
	})
	return path
}

func defaultServer() *server {
	return &server{maxClients: MaxClients, idle: IdleTimeout, get: testSnapshot}
}

// A 100 MiB request line without a newline costs the daemon a few KB, gets
// a short error that does not echo it, and the next client is served.
// Before the limit, the whole line was buffered (259 MiB took RSS to
// 585 MB).
func TestSocketLongLineBounded(t *testing.T) {
	path := serveTest(t, defaultServer())
	const lineBytes = 100 << 20
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)

	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	wrote := make(chan int, 1)
	go func() {
		// One reused chunk: the client side allocates nothing per write.
		chunk := bytes.Repeat([]byte("A"), 64<<10)
		n := 0
		for n < lineBytes {
			m, err := c.Write(chunk)
			n += m
			if err != nil {
				break // the server closed: what we want
			}
		}
		wrote <- n
	}()
	reply, _ := io.ReadAll(io.LimitReader(c, 64<<10)) // ends in EOF or a reset
	n := <-wrote
	runtime.ReadMemStats(&after)

	if len(reply) == 0 || len(reply) > 200 {
		t.Errorf("reply to a %d-byte line: %d bytes %q, want a short error", n, len(reply), reply)
	}
	var e struct{ Error string }
	if err := json.Unmarshal(reply, &e); err != nil || !strings.Contains(e.Error, "longer than 256 bytes") {
		t.Errorf("reply %q, want JSON error naming the 256-byte limit", reply)
	}
	if strings.Contains(string(reply), "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA") {
		t.Errorf("reply echoes the request: %q", reply)
	}
	if n >= lineBytes {
		t.Logf("the server read all %d bytes before closing", n)
	}
	const budget = 8 << 20
	if d := after.TotalAlloc - before.TotalAlloc; d > budget {
		t.Errorf("serving a %d-byte line allocated %d bytes, want < %d", n, d, budget)
	}
	if after.HeapAlloc > before.HeapAlloc+budget {
		t.Errorf("heap grew from %d to %d bytes", before.HeapAlloc, after.HeapAlloc)
	}
	if _, err := Fetch(path, 5*time.Second); err != nil {
		t.Errorf("Fetch after the long line = %v", err)
	}
}

// Unknown or malformed requests get a short error that quotes at most a
// sanitised prefix.
func TestSocketRequests(t *testing.T) {
	path := serveTest(t, defaultServer())
	for _, c := range []struct {
		name, req, want string
	}{
		{"snapshot", "snapshot\n", `"refid":"PPS"`},
		{"snapshot CRLF", "snapshot\r\n", `"refid":"PPS"`},
		{"snapshot at EOF", "snapshot", `"refid":"PPS"`},
		{"unknown", "status\n", `{"error":"unknown request \"status\" (want snapshot)"}`},
		{"long unknown", strings.Repeat("x", 200) + "\n", `{"error":"unknown request \"` + strings.Repeat("x", 32) + `\"... (want snapshot)"}`},
		{"control bytes", "\x1b[2J\x00\xff\n", `{"error":"unknown request \"\\x1b[2J\\x00\\xff\" (want snapshot)"}`},
		{"257 bytes", strings.Repeat("y", 256) + "\n", `{"error":"request longer than 256 bytes (want snapshot)"}`},
		{"256 bytes", strings.Repeat("y", 255) + "\n", `unknown request`},
	} {
		t.Run(c.name, func(t *testing.T) {
			conn, err := net.Dial("unix", path)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			io.WriteString(conn, c.req)
			conn.(*net.UnixConn).CloseWrite()
			got, _ := io.ReadAll(conn)
			if !strings.Contains(string(got), c.want) {
				t.Errorf("request %q: reply %q, want it to contain %q", c.req, got, c.want)
			}
		})
	}
}

// Eight idle clients do not lock gpsntpctl out: the ninth gets "busy",
// and once the idle ones time out it is served. Before, it got a
// connection reset.
func TestSocketIdleClientsBusy(t *testing.T) {
	s := defaultServer()
	s.idle = 2 * time.Second
	path := serveTest(t, s)
	var idle []net.Conn
	for range MaxClients {
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		idle = append(idle, c)
	}
	for deadline := time.Now().Add(10 * time.Second); s.active.Load() < MaxClients; {
		if time.Now().After(deadline) {
			t.Fatalf("server accepted %d idle clients, want %d", s.active.Load(), MaxClients)
		}
		time.Sleep(10 * time.Millisecond)
	}
	_, err := Fetch(path, 5*time.Second)
	if !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), "busy: 8 clients connected, try again") {
		t.Errorf("Fetch with %d idle clients = %v, want ErrBusy with \"busy: 8 clients connected, try again\"", MaxClients, err)
	}
	// The idle ones are dropped after the idle timeout, with a word.
	idle[0].SetReadDeadline(time.Now().Add(20 * time.Second))
	got, err := bufio.NewReader(idle[0]).ReadString('\n')
	if !strings.Contains(got, "no request within 2s") {
		t.Errorf("idle client read %q, %v; want a timeout message", got, err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; {
		_, err := Fetch(path, 5*time.Second)
		if err == nil {
			break
		}
		if !errors.Is(err, ErrBusy) || time.Now().After(deadline) {
			t.Fatalf("Fetch after the idle clients timed out = %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Listen replaces only a stale socket; anything else at the path is left
// alone with an error that says what is in the way.
func TestListenLeavesOtherFiles(t *testing.T) {
	for _, c := range []struct {
		name  string
		setup func(t *testing.T, path string)
		want  string
		inUse bool
	}{
		{"regular file", func(t *testing.T, path string) {
			os.WriteFile(path, []byte("precious"), 0o644)
		}, "control socket %s: a regular file is in the way; not removed", false},
		{"directory", func(t *testing.T, path string) {
			os.Mkdir(path, 0o755)
		}, "control socket %s: a directory is in the way; not removed", false},
		{"symlink to a file", func(t *testing.T, path string) {
			target := path + ".target"
			os.WriteFile(target, []byte("precious"), 0o644)
			os.Symlink(target, path)
		}, "control socket %s: a symbolic link is in the way; not removed", false},
		{"live socket", func(t *testing.T, path string) {
			ln, err := net.Listen("unix", path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ln.Close() })
		}, "another gpsntpd is serving %s", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ctl.sock")
			c.setup(t, path)
			before, _ := os.Lstat(path)
			ln, err := Listen(path)
			if err == nil {
				ln.Close()
				t.Fatalf("Listen(%s) over a %s = nil error", path, c.name)
			}
			if want := strings.ReplaceAll(c.want, "%s", path); err.Error() != want {
				t.Errorf("Listen = %q, want %q", err, want)
			}
			if errors.Is(err, ErrInUse) != c.inUse {
				t.Errorf("errors.Is(%v, ErrInUse) = %v, want %v", err, !c.inUse, c.inUse)
			}
			after, aerr := os.Lstat(path)
			if aerr != nil || !os.SameFile(before, after) {
				t.Errorf("the %s at %s was removed or replaced (%v)", c.name, path, aerr)
			}
		})
	}
	// A stale socket (bound, nobody listening) is replaced.
	path := filepath.Join(t.TempDir(), "ctl.sock")
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
	ln, err := Listen(path)
	if err != nil {
		t.Fatalf("Listen over a stale socket = %v", err)
	}
	ln.Close()
}

// A directory the daemon creates is 0750 and belongs to the group it is
// given, as does the 0660 socket: that group's members can connect, others
// cannot. Before, the directory stayed root:root 0750 and the group's
// members were refused even though the socket was theirs.
func TestListenGroupModes(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give files to another group")
	}
	const gid, otherGid, uid = 4242, 4243, 65534
	top := t.TempDir()
	os.Chmod(top, 0o755)               // the test's own directories (0700) must not
	os.Chmod(filepath.Dir(top), 0o755) // be what shuts others out
	dir := filepath.Join(top, "run", "gpsntp")
	path := filepath.Join(dir, "ctl.sock")
	old := syscall.Umask(0o077) // a strict umask must not change the modes
	ln, err := ListenGroup(path, gid)
	syscall.Umask(old)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	for _, c := range []struct {
		path string
		mode os.FileMode
		gid  uint32
	}{
		{filepath.Dir(dir), os.ModeDir | 0o755, 0},
		{dir, os.ModeDir | 0o750, gid},
		{path, os.ModeSocket | 0o660, gid},
	} {
		fi, err := os.Lstat(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != c.mode || fi.Sys().(*syscall.Stat_t).Gid != c.gid {
			t.Errorf("%s: mode %v group %d, want %v group %d", c.path, fi.Mode(), fi.Sys().(*syscall.Stat_t).Gid, c.mode, c.gid)
		}
	}
	for _, c := range []struct {
		gid  int
		want error
	}{{gid, nil}, {otherGid, unix.EACCES}} {
		if err := dialAs(path, uid, c.gid); !errors.Is(err, c.want) && err != c.want {
			t.Errorf("connect as uid %d gid %d = %v, want %v", uid, c.gid, err, c.want)
		}
	}
	// A directory that exists (systemd's RuntimeDirectory) is left alone.
	ln.Close()
	os.Chmod(dir, 0o755)
	ln2, err := ListenGroup(path, otherGid)
	if err != nil {
		t.Fatal(err)
	}
	ln2.Close()
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o755 || fi.Sys().(*syscall.Stat_t).Gid != gid {
		t.Errorf("existing %s changed to %v group %d", dir, fi.Mode(), fi.Sys().(*syscall.Stat_t).Gid)
	}
}

// dialAs connects to the unix socket at path with the file-system
// identity uid/gid (setfsuid/setfsgid act on the calling thread only, and
// drop root's override of file permissions). The thread is locked and
// never unlocked, so the runtime retires it with the goroutine.
func dialAs(path string, uid, gid int) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		unix.RawSyscall(unix.SYS_SETFSGID, uintptr(gid), 0, 0)
		unix.RawSyscall(unix.SYS_SETFSUID, uintptr(uid), 0, 0)
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(fd)
		errc <- unix.Connect(fd, &unix.SockaddrUnix{Name: path})
	}()
	return <-errc
}

// FuzzRequest: any bytes on the control socket get at most one reply line,
// valid JSON, and an error reply never grows with the request.
func FuzzRequest(f *testing.F) {
	for _, s := range []string{"snapshot\n", "snapshot\r\n", "snapshot", "status\n", "", "\n",
		strings.Repeat("x", 300), "\x1b[2J\xff\xfe\n", "snap\x00shot\n", " snapshot \n", "snapshot\nsnapshot\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, req []byte) {
		var out bytes.Buffer
		rw := struct {
			io.Reader
			io.Writer
		}{bytes.NewReader(req), &out}
		handle(rw, testSnapshot, time.Second)
		if out.Len() == 0 {
			if len(req) > 0 {
				t.Fatalf("request %q: no reply", req)
			}
			return
		}
		reply := out.Bytes()
		if bytes.IndexByte(reply, '\n') != len(reply)-1 {
			t.Fatalf("request %q: reply is not one line: %q", req, reply)
		}
		var v map[string]any
		if err := json.Unmarshal(reply, &v); err != nil {
			t.Fatalf("request %q: reply %q is not JSON: %v", req, reply, err)
		}
		if e, ok := v["error"]; ok && len(reply) > 256 {
			t.Fatalf("request %q: error reply of %d bytes: %v", req, len(reply), e)
		}
	})
}
