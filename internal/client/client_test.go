package client

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/seatrx/seatrx/tlsbind"
)

// A Config Dial cannot use is a typed error, found before any connection
// is made (it used to panic on a nil Prover after the handshake).
func TestDialRefusesUnusableConfig(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan struct{}, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- struct{}{}
			c.Close()
		}
	}()
	url := "https://" + ln.Addr().String()
	for _, tc := range []struct {
		name, field string
		cfg         Config
	}{
		{"no prover", "Prover", Config{Server: url}},
		{"not https", "Server", Config{Server: "http://" + ln.Addr().String(), Prover: &tlsbind.Prover{}}},
		{"no host", "Server", Config{Server: "https://", Prover: &tlsbind.Prover{}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Dial(context.Background(), tc.cfg)
			var ce *ConfigError
			if c != nil || !errors.As(err, &ce) || ce.Field != tc.field {
				t.Fatalf("got %v, %v; want a ConfigError for %s", c, err, tc.field)
			}
		})
	}
	select {
	case <-accepted:
		t.Fatal("Dial connected with an unusable Config")
	case <-time.After(50 * time.Millisecond):
	}
}

func TestAttestServerWithoutCheckerIsAConfigError(t *testing.T) {
	var ce *ConfigError
	if _, err := (&Conn{}).AttestServer(context.Background()); !errors.As(err, &ce) || ce.Field != "Checker" {
		t.Fatalf("got %v, want a ConfigError for Checker", err)
	}
}
