package verify_test

import (
	"fmt"
	"log"

	"github.com/seatrx/seatrx/receipt"
	"github.com/seatrx/seatrx/verify"
)

// Verify a receipt bundle offline with the issuer's keys document (GET
// /v1/keys). Here a dev server on loopback issued both; its TEEs are
// simulated, so this verifier explicitly trusts the simulated PKI the server
// published (pki, from sim.Load). Against production roots, leave out
// AllowSimulated and SimulatedPKI.
func Example() {
	bundle, keysDoc, pki := issueOnLoopback()

	keys, err := receipt.ParseKeys(keysDoc)
	if err != nil {
		log.Fatal(err)
	}
	rep, err := verify.Bundle(bundle, keys, verify.Options{Mode: receipt.ModeAudit, AllowSimulated: true, SimulatedPKI: pki})
	if err != nil {
		log.Fatalf("refused: %v", err)
	}
	for _, c := range rep.Checks {
		fmt.Println(c.Status, c.Name)
	}
	fmt.Println("ok:", rep.OK)
	// Output:
	// pass structure
	// pass header
	// pass signature
	// pass payload
	// pass action_hash
	// pass policy_hash
	// pass consistency
	// pass approvals
	// pass attestation
	// pass trust_anchors
	// pass masking
	// pass time
	// skipped replay
	// skipped execution_token
	// ok: true
}
