// Package peersuite is seatrx as a live, scriptable peer for testing another
// implementation of RFC 9261 exported authenticators with
// draft-fossati-seat-expat attestation:
//
//   - Serve plays the relying party: each connection runs one scripted
//     Scenario (a well-formed request, requests that break one rule, two
//     requests on one connection) and reports whether the foreign attester
//     reacted as RFC 9261 and the draft require;
//   - Run plays the attester: each Case answers the foreign relying party's
//     request with one authenticator, good or wrong in one way
//     (internal/expattest's faults and binding faults), and reports whether
//     it was accepted or refused as it must be.
//
// Both speak seatrx's HTTP API or a raw framing on the TLS connection
// (internal/frame: seatrx-raw/1, or cocos's), as TLS client or server, and
// record what they do with internal/capture when asked. Each scenario and
// case names the rule it tests; docs/PROTOCOL.md §12 lists them.
package peersuite
