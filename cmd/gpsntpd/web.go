package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/gpsntp/gpsntp/web"
)

// The LAN status page (`web ADDR:PORT [showposition]`, or -web ADDR):
// package web, sampled once a second, its day of history kept next to the
// drift file. Unlike the metrics port, a page that cannot be served is not
// fatal: the daemon keeps serving NTP, logs why, raises the "web" alarm
// (gpsntpctl status, the console, the page itself once it is back) and
// tries to bind again every webRetry (another program may hold the port
// for a while).

// webRetry is how long to wait before binding the page's address again.
var webRetry = 30 * time.Second

// historyFileName is the history file, in the drift file's directory.
const historyFileName = "history"

// webAddr is the page's address: -web, else `web` ("": none; -web off
// turns the configured page off).
func webAddr(o options, addr string) string {
	switch o.web {
	case "":
		return addr
	case "off":
		return ""
	}
	return o.web
}

// openWeb sets up the status page: its history (read back from the state
// directory) and sampler, and its listener, bound now while still root.
func (a *appliance) openWeb() error {
	addr := webAddr(a.o, a.cfg.Web.Addr)
	if addr == "" {
		return nil
	}
	h := web.NewHistory()
	var histPath string
	if a.cfg.DriftFile != "" {
		histPath = filepath.Join(filepath.Dir(a.cfg.DriftFile), historyFileName)
		switch err := h.Load(histPath); {
		case err == nil:
			a.log.Info("web: history read", "path", histPath)
		case errors.Is(err, fs.ErrNotExist):
		default:
			a.log.Warn("web: history file ignored; the 24 h plot starts empty", "err", err)
		}
	}
	page := web.New(web.Config{Get: a.col.get, History: h, HistoryFile: histPath, ShowPosition: a.cfg.Web.ShowPosition,
		HoldoverMax: a.cfg.HoldoverMax, MaxError: a.cfg.MaxError, Log: a.log})
	a.tasks = append(a.tasks, task{"web history", page.Run})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		a.log.Error("web: status page not served; the daemon goes on, binding again", "every", webRetry, "addr", addr, "err", err)
		a.webDown.Store(webDownText(addr, err))
	} else {
		a.onClose(ignoreClosed(ln))
		logWebURL(a.log, ln.Addr())
	}
	a.tasks = append(a.tasks, task{"web", func(ctx context.Context) error { return serveWeb(ctx, ln, addr, page, a.log, &a.webDown) }})
	return nil
}

// webDownText is the "web" alarm's text: the page at addr is not served
// because of err.
func webDownText(addr string, err error) *string {
	s := fmt.Sprintf("status page on %s not served (%v): binding again every %v", addr, err, webRetry)
	return &s
}

// logWebURL says where the page is.
func logWebURL(log *slog.Logger, ad net.Addr) {
	tcp, ok := ad.(*net.TCPAddr)
	if ok && tcp.IP.IsUnspecified() {
		log.Info("serving the status page on every address", "port", tcp.Port, "url", fmt.Sprintf("http://localhost:%d/", tcp.Port))
		return
	}
	log.Info("serving the status page", "url", "http://"+ad.String()+"/")
}

// serveWeb serves the page on ln until ctx is done. A listener that could
// not be had (nil), or one that fails, is bound again after webRetry;
// down holds the "web" alarm's text meanwhile (nil while served).
func serveWeb(ctx context.Context, ln net.Listener, addr string, h http.Handler, log *slog.Logger, down *atomic.Pointer[string]) error {
	for {
		if ln != nil {
			down.Store(nil)
			srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, MaxHeaderBytes: 8 << 10,
				IdleTimeout: time.Minute,
				// The live streams end with the daemon: their requests'
				// contexts are ctx's.
				BaseContext: func(net.Listener) context.Context { return ctx }}
			stop := context.AfterFunc(ctx, func() {
				sctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				if srv.Shutdown(sctx) != nil {
					srv.Close()
				}
			})
			err := srv.Serve(ln)
			stop()
			if ctx.Err() != nil {
				return nil
			}
			log.Error("web: status page stopped; binding again", "in", webRetry, "addr", addr, "err", err)
			down.Store(webDownText(addr, err))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(webRetry):
		}
		var err error
		if ln, err = net.Listen("tcp", addr); err != nil {
			ln = nil
			down.Store(webDownText(addr, err)) // logged once, when it first failed
			continue
		}
		logWebURL(log, ln.Addr())
	}
}
