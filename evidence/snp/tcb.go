package snp

import "fmt"

// TCB is the security-relevant part of an SNP TCB_VERSION: the patch levels a
// relying party sets minimums for. FMC exists only on Turin (zero elsewhere).
type TCB struct {
	BootLoader uint8 `json:"boot_loader" yaml:"boot_loader" cbor:"boot_loader"`
	TEE        uint8 `json:"tee" yaml:"tee" cbor:"tee"`
	SNP        uint8 `json:"snp" yaml:"snp" cbor:"snp"`
	Microcode  uint8 `json:"microcode" yaml:"microcode" cbor:"microcode"`
	FMC        uint8 `json:"fmc,omitempty" yaml:"fmc,omitempty" cbor:"fmc,omitempty"`
}

// DecomposeTCB splits a raw 64-bit TCB_VERSION for a product line. Milan and
// Genoa use {BL, TEE, -, -, -, -, SNP, UCODE} (byte 0 first); Turin uses
// {FMC, BL, TEE, SNP, -, -, -, UCODE}. go-sev-guest v0.15.0's kds package only
// knows the first layout, hence our own function.
func DecomposeTCB(product string, v uint64) TCB {
	b := func(i int) uint8 { return uint8(v >> (8 * i)) }
	if product == ProductTurin {
		return TCB{FMC: b(0), BootLoader: b(1), TEE: b(2), SNP: b(3), Microcode: b(7)}
	}
	return TCB{BootLoader: b(0), TEE: b(1), SNP: b(6), Microcode: b(7)}
}

// AtLeast reports whether every component of t is >= the same component of min.
func (t TCB) AtLeast(min TCB) bool {
	return t.BootLoader >= min.BootLoader && t.TEE >= min.TEE && t.SNP >= min.SNP &&
		t.Microcode >= min.Microcode && t.FMC >= min.FMC
}

// String renders t for error details.
func (t TCB) String() string {
	s := fmt.Sprintf("{bl:%d tee:%d snp:%d ucode:%d", t.BootLoader, t.TEE, t.SNP, t.Microcode)
	if t.FMC != 0 {
		s += fmt.Sprintf(" fmc:%d", t.FMC)
	}
	return s + "}"
}

// ComposeTCB is the inverse of DecomposeTCB: it packs t into the product
// line's 64-bit TCB_VERSION layout (reserved bytes zero).
func ComposeTCB(product string, t TCB) uint64 {
	put := func(i int, x uint8) uint64 { return uint64(x) << (8 * i) }
	if product == ProductTurin {
		return put(0, t.FMC) | put(1, t.BootLoader) | put(2, t.TEE) | put(3, t.SNP) | put(7, t.Microcode)
	}
	return put(0, t.BootLoader) | put(1, t.TEE) | put(6, t.SNP) | put(7, t.Microcode)
}
