package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"
)

// A page address another program holds is not fatal: serveWeb binds it
// again once it is free, and returns nil when the daemon stops.
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
	go func() { done <- serveWeb(ctx, nil, addr, h, slog.New(slog.DiscardHandler)) }()
	time.Sleep(300 * time.Millisecond) // a few failed binds
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
