// Package depcheck has no code: its tests guard the module's import graph.
// The verifier side (everything but the binaries, internal/server's attester
// selection and the guest attesters in evidence/attest) must link no guest
// device client and register no global command-line flag, so that any
// program may import tlsbind, receipt or evidence without inheriting either.
// The lower layers (expat, evidence, receipt) import neither each other nor
// anything above them, so that data flows one way.
package depcheck
