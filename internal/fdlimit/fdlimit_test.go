package fdlimit

import (
	"runtime"
	"testing"
)

func TestRaise(t *testing.T) {
	soft, hard, err := Raise()
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && (soft == 0 || soft != hard) {
		t.Errorf("after Raise: soft %d, hard %d; want soft = hard", soft, hard)
	}
}
