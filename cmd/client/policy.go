package main

import "github.com/seatrx/seatrx/evidence/policy"

func loadPolicyCBOR(path string) ([]byte, error) {
	p, err := policy.Load(path)
	if err != nil {
		return nil, err
	}
	return p.CanonicalCBOR()
}
