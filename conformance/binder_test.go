package conformance

import (
	"encoding/json"
	"testing"
)

// independent holds binder values derived outside seatrx (the interop
// research note, §6.1: a separate Python HKDF implementation over the same
// inputs), so that the published binder vectors are not only seatrx
// checking itself. Only the fields the note gives are compared.
var independent = map[string]map[string]string{
	"expat-04-sha256-p256": {
		"exported":     "673a4e491491971cfc7eead723186da2ae3de14d373bab54481b467d27ff23d8",
		"binding":      "b0a4ad69d21c3d867b8700314e8f54aa14c4497eb0fa5961a78686f37f273ede",
		"aik_pub_hash": "578368152c6abdbb657b8b47cefec62db0eae67fc7024d5deff3954c0a2301fd",
		"report_data":  "b0a4ad69d21c3d867b8700314e8f54aa14c4497eb0fa5961a78686f37f273ede578368152c6abdbb657b8b47cefec62db0eae67fc7024d5deff3954c0a2301fd",
	},
	"expat-04-sha256-ed25519": {"binding": "6df5599ef1251e8a09223c4cea46931a4cdc0b4de01291965c83e1fad5bb535f"},
	"expat-04-sha384-hashed-layout": {
		"exported":    "70e82e59ae558ee0464c81d1d6c21e860e68e9d336d96dab31f954b135c6c431",
		"binding":     "08887fd8c898426ee3ed549812fd68829113cacb1c6eeb6d135977cbaa467a2bbf9420dea8f50c3228809bf498e74903",
		"report_data": "57fbd3ea424e8f3da04c34982902e1a9d5f5c153443afc45af65dca7886461e912dfa913ed7ae312add9f45aaf357ac027ff131aabcf1c82e1cfacf5c30a018b",
	},
	"expat-03-sha256-p256": {
		"exported": "d859da731cd302bd0c4abf6e57ad1be235c7bf0c53b9ffa1643e9aaa097ff008",
		"binding":  "19b1b3841c559d9fd1c85a27480e725ef6dd916a7dc803b13029be1ff43e2d69",
	},
	"cocos-sha256-p256": {
		"binding":     "19b1b3841c559d9fd1c85a27480e725ef6dd916a7dc803b13029be1ff43e2d69",
		"report_data": "23cfaf024e0ce105e2fea284345a0cceaea2a2e91fff62c6053734ba6ddf4b6f2c8f68d9904adb6a3d8c9307235a906c9f1720dc96c182b3ccc31f2676296817",
	},
	"cocos-sha256-ed25519":         {"report_data": "7e59dfbf39e4527dd5e539b936ed7a6661c8011a108fd4fdd9f59101ea57952f00af066dcb74e6445ab28c197e7fbe4745a34b24e41d521f0a302e6c563fce2e"},
	"cocos-sha384":                 {"report_data": "4bc6b1d3fdcfd45e142d8ab212a5b55f749e97969d64b6790d2a83325b1ce8a699c97c0af0dd0d849b6adb81d0cb9fbdc9265d23f6bfe9f01cbcde4852e4c224"},
	"rust-ref-attestation-binding": {"report_data": "c844bb1531c0b9f243b37c1b0629737726367d09b9e12997ec4aad372a2cd5eb3ec0179f901bae74e39f97436372bca25924c93bf2e4e4e97e8def6dba20058b"},
	"rust-ref-code-label":          {"report_data": "b7fc6503db5d4499bcacba7a3d467742de07570ff94ee52085e68161bdca030aff1722d4f8ab1147dc565cfd6ef0038bea70164723a65539a4fce8d10ba1ec02"},
}

func TestBinderVectorsAgreeWithIndependentValues(t *testing.T) {
	f, err := LoadFile("vectors/binder.json")
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, c := range f.Cases {
		want, ok := independent[c.Name]
		if !ok {
			continue
		}
		seen++
		var got map[string]string
		if err := json.Unmarshal(c.Expected, &got); err != nil {
			t.Fatal(err)
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s: %s = %s, independently computed %s", c.Name, k, got[k], v)
			}
		}
	}
	if seen != len(independent) {
		t.Fatalf("found %d of the %d cross-checked cases in binder.json", seen, len(independent))
	}
}
