package evidence

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/seatrx/seatrx/evidence/check"
)

// tryRoots starts with the anchored set, then keeps the configured order;
// when every set refuses the anchor it reports the first configured set's
// refusal; any other failure is final.
func TestTryRootsOrder(t *testing.T) {
	anchorErr := func(i int) error { return check.Errorf(check.SNP, check.TrustAnchor, "set %d", i) }
	for _, tc := range []struct {
		name  string
		first int
		ok    int // the set that verifies; -1: none
		final int // the set that fails for good; -1: none
		tried []int
		err   string
	}{
		{"first is the anchor", 2, 2, -1, []int{2}, ""},
		{"default order", 0, 1, -1, []int{0, 1}, ""},
		{"stale hint", 2, 0, -1, []int{2, 0}, ""},
		{"none anchors", 1, -1, -1, []int{1, 0, 2}, "snp.trust_anchor: set 0"},
		{"evidence failure is final", 1, -1, 0, []int{1, 0}, "snp.signature: bad"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var tried []int
			err := tryRoots(context.Background(), []int{0, 1, 2}, tc.first, func(i int) error {
				tried = append(tried, i)
				switch i {
				case tc.ok:
					return nil
				case tc.final:
					return check.Errorf(check.SNP, check.Signature, "bad")
				}
				return anchorErr(i)
			})
			if !reflect.DeepEqual(tried, tc.tried) {
				t.Errorf("tried %v, want %v", tried, tc.tried)
			}
			var ce *check.Error
			switch {
			case tc.err == "" && err != nil:
				t.Errorf("error %v", err)
			case tc.err != "" && (!errors.As(err, &ce) || err.Error() != tc.err):
				t.Errorf("error %v, want %q", err, tc.err)
			}
		})
	}
	if got := anchoredFirst([]int{5, 6, 7}, func(i int) bool { return i == 7 }); got != 2 {
		t.Errorf("anchoredFirst = %d, want 2", got)
	}
	if got := anchoredFirst([]int{5, 6}, func(int) bool { return false }); got != 0 {
		t.Errorf("anchoredFirst without an anchor = %d, want 0", got)
	}
}

// bstrEmpty reads the length from the head in every form, and decodes an
// indefinite-length string.
func TestBstrEmpty(t *testing.T) {
	for _, tc := range []struct {
		raw   []byte
		empty bool
	}{
		{[]byte{0x40}, true},
		{[]byte{0x41, 7}, false},
		{[]byte{0x58, 0}, true},
		{append([]byte{0x58, 24}, make([]byte, 24)...), false},
		{[]byte{0x59, 0, 0}, true},
		{append([]byte{0x59, 1, 0}, make([]byte, 256)...), false},
		{[]byte{0x5a, 0, 0, 0, 0}, true},
		{[]byte{0x5b, 0, 0, 0, 0, 0, 0, 0, 0}, true},
		{[]byte{0x5f, 0xff}, true},
		{[]byte{0x5f, 0x41, 1, 0xff}, false},
	} {
		got, err := bstrEmpty(tc.raw)
		if err != nil || got != tc.empty {
			t.Errorf("bstrEmpty(%x) = %v, %v; want %v", tc.raw, got, err, tc.empty)
		}
	}
}
