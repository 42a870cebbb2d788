package api

import (
	"context"
	"crypto/tls"
	"errors"
	"log"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/sirupsen/logrus"
)

// Serve listens on bind_host:bind_port (TLS when [ssl] cert_file/key_file are set) until ctx ends, then drains.
// ready, when non-nil, receives the bound address once listening.
func (a *API) Serve(ctx context.Context, ready func(addr net.Addr)) error {
	addr := net.JoinHostPort(a.cfg.BindHost, strconv.Itoa(a.cfg.BindPort))
	errLog := a.log.WriterLevel(logrus.DebugLevel) // TLS handshake noise and the like
	defer errLog.Close()
	srv := &http.Server{
		Handler:           a.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      120 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16384 * 4, // Trove's max_header_line is per line; tokens and catalogs fit
		ErrorLog:          log.New(errLog, "", 0),
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	if a.cfg.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(a.cfg.CertFile, a.cfg.KeyFile)
		if err != nil {
			ln.Close()
			return err
		}
		srv.TLSConfig = TLSConfig(cert)
		ln = tls.NewListener(ln, srv.TLSConfig)
	}
	if ready != nil {
		ready(ln.Addr())
	}
	a.log.WithField("address", ln.Addr().String()).WithField("tls", a.cfg.CertFile != "").Info("trove-api listening")
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = srv.Shutdown(shutdownCtx)
	if e := <-errc; !errors.Is(e, http.ErrServerClosed) && err == nil {
		err = e
	}
	return err
}

// TLSConfig is TLS 1.2+ with forward-secret AEAD suites only (TLS 1.3 suites are fixed by Go).
func TLSConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
		CurvePreferences: []tls.CurveID{tls.X25519, tls.CurveP256},
	}
}
