package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/discipline"
	"github.com/gpsntp/gpsntp/gps"
)

// A page address another program holds is not fatal: serveWeb binds it
// again once it is free, and returns nil when the daemon stops. Meanwhile
// the "web" alarm says so, and it clears once the page is served.
func TestServeWebRetriesBind(t *testing.T) {
	holder, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := holder.Addr().String()
	old := webRetry
	webRetry = 100 * time.Millisecond
	t.Cleanup(func() { webRetry = old })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "page") })
	a := &appliance{}
	c := &collector{log: slog.New(slog.DiscardHandler)}
	a.webDown.Store(webDownText(addr, errors.New("address already in use"))) // as openWeb does
	go func() { done <- serveWeb(ctx, nil, addr, h, slog.New(slog.DiscardHandler), &a.webDown) }()
	time.Sleep(300 * time.Millisecond) // a few failed binds
	if got := strings.Join(c.alarms(0, 0, a, gps.Stats{}, discipline.Status{}), "; "); !strings.Contains(got, "status page on "+addr+" not served") {
		t.Errorf("alarms while the port is held: %q, want the page's", got)
	}
	holder.Close()
	var body []byte
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		resp, err := http.Get("http://" + addr + "/")
		if err == nil {
			body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			break
		}
	}
	if string(body) != "page" {
		t.Errorf("after the port was freed: GET / = %q, want the page", body)
	}
	if got := c.alarms(0, 0, a, gps.Stats{}, discipline.Status{}); len(got) != 0 {
		t.Errorf("alarms once the page is served: %q, want none", got)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serveWeb after stop = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("serveWeb did not return within 5 s of the stop")
	}
}
