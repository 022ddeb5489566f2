package server_test

import (
	"math/big"
	"net"
	"testing"

	"github.com/seatrx/seatrx/expat"
	"github.com/seatrx/seatrx/internal/client"
	"github.com/seatrx/seatrx/tlsbind"
)

func bigOne() *big.Int { return big.NewInt(1) }

func ipLoopback() []net.IP { return []net.IP{net.IPv4(127, 0, 0, 1)} }

// newClientSession gives a test its own client-side session on c's TLS
// connection, to build authenticators outside the client's normal flow.
func newClientSession(t *testing.T, c *client.Conn) *tlsbind.Session {
	t.Helper()
	cs := c.ConnectionState()
	s, err := tlsbind.NewSession(&cs, expat.Client, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func expatRequestWithoutCMW() ([]byte, error) {
	r, err := expat.NewRequest(expat.Client, expat.RequestOptions{})
	if err != nil {
		return nil, err
	}
	return r.Raw, nil
}
