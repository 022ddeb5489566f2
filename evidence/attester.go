package evidence

import (
	"context"
	"errors"
	"fmt"

	"github.com/seatrx/seatrx/evidence/snp"
	"github.com/seatrx/seatrx/evidence/tdx"
)

// SNPQuoter produces an SEV-SNP report over reportData and its GHCB
// certificate table: snp.Attester on hardware, sim's SNPGuest in tests.
type SNPQuoter interface {
	Quote(reportData [64]byte) (report, certTable []byte, err error)
}

// TDXQuoter produces a TDX quote (v4, or v5 on TDX 1.5 hosts) over
// reportData: tdx.Attester on hardware, sim's TDXGuest in tests.
type TDXQuoter interface {
	Quote(reportData [64]byte) (quote []byte, err error)
}

// Attester makes evidence bound to a 64-byte REPORTDATA and returns it as the
// cmw_attestation payload (a CBOR CMW collection). The evidence travels in
// its canonical form (EvidenceDigest): a TDX quote without the zero padding
// some quote providers add, an SEV-SNP certificate table sorted and packed.
type Attester interface {
	Platform() Platform
	Attest(ctx context.Context, reportData [64]byte) (cmw []byte, err error)
}

// ErrNoQuoter is returned by Attest when the Attester was built without a quoter.
var ErrNoQuoter = errors.New("evidence: attester has no quoter")

// NewSNPAttester wraps an SEV-SNP quoter as an Attester.
func NewSNPAttester(q SNPQuoter) Attester { return &snpAttester{q: q} }

// NewTDXAttester wraps a TDX quoter as an Attester.
func NewTDXAttester(q TDXQuoter) Attester { return &tdxAttester{q: q} }

type snpAttester struct{ q SNPQuoter }

func (*snpAttester) Platform() Platform { return PlatformSNP }

// Attest asks the quoter for a report; the quoter call itself cannot be
// interrupted (the guest driver does not support it), so ctx is checked
// before and after it.
func (a *snpAttester) Attest(ctx context.Context, reportData [64]byte) ([]byte, error) {
	if a.q == nil {
		return nil, ErrNoQuoter
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	report, table, err := a.q.Quote(reportData)
	if err != nil {
		return nil, fmt.Errorf("evidence: SEV-SNP quote: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if table, err = snp.CanonicalCertTable(table); err != nil {
		return nil, fmt.Errorf("evidence: SEV-SNP certificate table from the quoter: %w", err)
	}
	b, err := EncodeSNP(report, table)
	if err != nil {
		return nil, fmt.Errorf("evidence: wrap SEV-SNP evidence: %w", err)
	}
	return b, nil
}

type tdxAttester struct{ q TDXQuoter }

func (*tdxAttester) Platform() Platform { return PlatformTDX }

// Attest asks the quoter for a quote; see snpAttester.Attest about ctx.
func (a *tdxAttester) Attest(ctx context.Context, reportData [64]byte) ([]byte, error) {
	if a.q == nil {
		return nil, ErrNoQuoter
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	quote, err := a.q.Quote(reportData)
	if err != nil {
		return nil, fmt.Errorf("evidence: TDX quote: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if quote, err = tdx.CanonicalQuote(quote); err != nil {
		return nil, fmt.Errorf("evidence: TDX quote from the quoter: %w", err)
	}
	b, err := EncodeTDX(quote, nil)
	if err != nil {
		return nil, fmt.Errorf("evidence: wrap TDX evidence: %w", err)
	}
	return b, nil
}
