package tlsbind

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"time"

	"github.com/seatrx/seatrx/evidence"
	"github.com/seatrx/seatrx/evidence/cocos"
	"github.com/seatrx/seatrx/evidence/rustref"
)

// Carried is what a peer's cmw_data carried, read as a profile's container
// says: platform evidence or an EAR, and for the cocos container its JSON
// payload too (whose binder is unsigned: compared, never trusted).
type Carried struct {
	Evidence *evidence.Decoded
	Cocos    *cocos.Payload
}

// OpenCMWData reads cmw_data as p's container holds it. Nothing in it is
// verified yet; errors are the container's typed refusals (cmw.*, cocos.*).
func (p Profile) OpenCMWData(data []byte) (*Carried, error) {
	switch p.Container {
	case ContainerCocos:
		pl, err := cocos.ParsePayload(data)
		if err != nil {
			return nil, err
		}
		eat, err := cocos.ParseEAT(pl.Evidence)
		if err != nil {
			return nil, err
		}
		d, err := eat.Report()
		if err != nil {
			return nil, err
		}
		return &Carried{Evidence: d, Cocos: pl}, nil
	case ContainerRustRef:
		d, err := rustref.Decode(data)
		if err != nil {
			return nil, err
		}
		return &Carried{Evidence: d}, nil
	}
	d, err := evidence.Decode(data)
	if err != nil {
		return nil, err
	}
	return &Carried{Evidence: d}, nil
}

// CMWData turns seatrx's own CMW (what an evidence.Attester returns, or the
// EAR record of the passport model) into what p puts in cmw_data for binder
// b: the CMW itself; cocos's JSON payload around an EAT (signed with a fresh
// P-256 key, as cocos's attestation service signs with an unanchored one;
// eat_nonce = SHA-256(exported), as cocos sets it); or rust-ref's record of
// the TDX quote. A profile that cannot carry the CMW (an EAR outside the CMW
// container, SNP evidence under rust-ref) is attest.profile_unsupported.
func (p Profile) CMWData(cmw []byte, b *Binder) ([]byte, error) {
	if p.Container == ContainerCMW {
		return cmw, nil
	}
	d, err := evidence.Decode(cmw)
	if err != nil {
		return nil, classify(StepCMW, err)
	}
	if d.Kind != evidence.KindEvidence {
		return nil, fail(StepCMW, CodeProfileUnsupported, nil, "profile %s carries platform evidence only (background-check model), not an attestation result", p.ID)
	}
	switch p.Container {
	case ContainerCocos:
		nonce := sha256.Sum256(b.Exported)
		eat, err := cocos.NewEAT(d, nonce[:])
		if err != nil {
			return nil, classify(StepCMW, err)
		}
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, classify(StepCMW, err)
		}
		signed, err := eat.Sign(key, time.Now())
		if err != nil {
			return nil, classify(StepCMW, err)
		}
		pl := &cocos.Payload{Version: cocos.Version, MediaType: cocos.MediaTypeEAT, Evidence: signed,
			Binder: cocos.Binder{ExporterLabel: p.Label, AIKPubHash: b.AIKPubHash, Binding: b.Binding}}
		out, err := pl.Marshal()
		if err != nil {
			return nil, classify(StepCMW, err)
		}
		return out, nil
	case ContainerRustRef:
		if d.Platform != evidence.PlatformTDX {
			return nil, fail(StepCMW, CodeProfileUnsupported, nil, "profile %s carries TDX quotes only, not %s evidence", p.ID, d.Platform)
		}
		out, err := rustref.Encode(d.Evidence)
		if err != nil {
			return nil, classify(StepCMW, err)
		}
		return out, nil
	}
	return nil, fail(StepCMW, CodeProfileUnsupported, nil, "profile %s: unknown container %v", p.ID, p.Container)
}
