package conformance

import (
	"encoding/json"

	"github.com/seatrx/seatrx/receipt"
)

func init() {
	for _, kind := range []string{"receipt", "approval"} {
		Register(kind, func(in, exp json.RawMessage) error { return receipt.RunVector(kind, in, exp) })
	}
}
