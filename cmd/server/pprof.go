package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"time"
)

// loopbackAddr is the --pprof and --metrics-addr flag: empty (off, the
// default) or HOST:PORT with a loopback HOST, so that profiles and metrics
// (which reveal the program's internals and load) are never reachable from
// the network.
type loopbackAddr string

func (a *loopbackAddr) String() string {
	if a == nil {
		return ""
	}
	return string(*a)
}

func (a *loopbackAddr) Set(s string) error {
	if s == "" {
		*a = ""
		return nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return errors.New("want a loopback HOST:PORT, e.g. 127.0.0.1:6060, [::1]:6060 or localhost:6060")
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || (n == 0 && port != "0") {
		return fmt.Errorf("port %q: want a number from 0 to 65535", port)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("host %q: this listener is for loopback only (127.0.0.1, ::1 or localhost)", host)
	}
	*a = loopbackAddr(s)
	return nil
}

func (a *loopbackAddr) Type() string { return "HOST:PORT" }

// startPprof serves net/http/pprof on addr (plain HTTP, loopback only) until
// the returned stop is called. It uses its own mux: nothing of it is on the
// API listener.
func startPprof(addr string, log *slog.Logger) (stop func(), err error) {
	ln, err := listenLoopback("pprof", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	log.Warn("profiling listener on (loopback only; for measurements, not production)", "pprof", "http://"+ln.Addr().String()+"/debug/pprof/")
	return func() { srv.Close() }, nil
}

// listenLoopback listens on addr, refusing an address that resolves off
// loopback ("localhost" may).
func listenLoopback(flag, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--%s: %w", flag, err)
	}
	if tcp, ok := ln.Addr().(*net.TCPAddr); !ok || !tcp.IP.IsLoopback() {
		ln.Close()
		return nil, fmt.Errorf("--%s %s: bound to %s, which is not a loopback address", flag, addr, ln.Addr())
	}
	return ln, nil
}

// startMetrics serves h (the server's Prometheus metrics) at /metrics on
// addr, plain HTTP on loopback, until the returned stop is called: the API
// listener does not serve them unless --metrics-on-main.
func startMetrics(addr string, h http.Handler, log *slog.Logger) (stop func(), err error) {
	ln, err := listenLoopback("metrics-addr", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 30 * time.Second}
	go srv.Serve(ln)
	log.Info("metrics listener on (loopback only)", "metrics", "http://"+ln.Addr().String()+"/metrics")
	return func() { srv.Close() }, nil
}
