package fetch

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

func validEntryJSON(t testing.TB) []byte {
	t.Helper()
	b, err := json.Marshal(&entry{Version: entryVersion, URL: testURL, Fetched: t0,
		Header: http.Header{"X-A": {"b"}}, Body: []byte("body")})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseEntryMalformed(t *testing.T) {
	good := string(validEntryJSON(t))
	tests := []struct {
		name, in, want string
		maxSize        int64
	}{
		{"empty", "", "EOF", 100},
		{"not-json", "garbage", "invalid character", 100},
		{"array", "[]", "cannot unmarshal array", 100},
		{"unknown-field", `{"v":1,"extra":1}`, `unknown field "extra"`, 100},
		{"trailing", good + `{}`, "trailing data", 100},
		{"wrong-version", strings.Replace(good, `"v":1`, `"v":2`, 1), "version 2, want 1", 100},
		{"other-url", strings.Replace(good, "Genoa", "Milan", 1), "not \"" + testURL, 100},
		{"no-fetch-time", strings.Replace(good, `"fetched":"2026-11-22T12:00:00Z"`, `"fetched":"0001-01-01T00:00:00Z"`, 1), "no fetch time", 100},
		{"bad-time", strings.Replace(good, `"fetched":"2026-11-22T12:00:00Z"`, `"fetched":"yesterday"`, 1), "cannot parse", 100},
		{"bad-base64", strings.Replace(good, `"body":"Ym9keQ=="`, `"body":"!!"`, 1), "illegal base64", 100},
		{"body-over-limit", good, "body 4 bytes exceeds 3", 3},
		{"file-over-limit", good + strings.Repeat(" ", int(maxEntryFile(3))), "exceeds", 3},
		{"headers-over-limit", strings.Replace(good, `"X-A":["b"]`, `"X-A":["`+strings.Repeat("h", MaxHeaderBytes)+`"]`, 1), "headers exceed", 1 << 20},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseEntry([]byte(tc.in), testURL, tc.maxSize)
			if !errors.Is(err, errEntry) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want errEntry with %q", err, tc.want)
			}
		})
	}
	e, err := parseEntry([]byte(good), testURL, 100)
	if err != nil || string(e.Body) != "body" || e.Header.Get("X-A") != "b" || !e.Fetched.Equal(t0) {
		t.Fatalf("valid entry: %+v, %v", e, err)
	}
}

func TestResponseExpiry(t *testing.T) {
	fetched := t0
	tests := []struct {
		name string
		hdr  http.Header
		want time.Time
	}{
		{"none", http.Header{}, time.Time{}},
		{"max-age", http.Header{"Cache-Control": {"public, max-age=300"}}, t0.Add(5 * time.Minute)},
		{"max-age-quoted", http.Header{"Cache-Control": {`max-age="60"`}}, t0.Add(time.Minute)},
		{"smallest-max-age", http.Header{"Cache-Control": {"max-age=600", "max-age=60"}}, t0.Add(time.Minute)},
		{"bad-max-age", http.Header{"Cache-Control": {"max-age=soon"}}, t0},
		{"negative-max-age", http.Header{"Cache-Control": {"max-age=-5"}}, t0},
		{"huge-max-age", http.Header{"Cache-Control": {"max-age=99999999999999"}}, t0.Add(100 * 365 * 24 * time.Hour)},
		{"no-store", http.Header{"Cache-Control": {"max-age=600, no-store"}}, t0},
		{"NO-CACHE", http.Header{"Cache-Control": {"NO-CACHE"}}, t0},
		{"expires", http.Header{"Expires": {t0.Add(time.Hour).Format(http.TimeFormat)}}, t0.Add(time.Hour)},
		{"bad-expires", http.Header{"Expires": {"0"}}, t0},
		{"max-age-over-expires", http.Header{"Cache-Control": {"max-age=60"}, "Expires": {t0.Add(time.Hour).Format(http.TimeFormat)}}, t0.Add(time.Minute)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := responseExpiry(tc.hdr, fetched); !got.Equal(tc.want) {
				t.Fatalf("expiry %s, want %s", got, tc.want)
			}
		})
	}
}

// FuzzCacheEntry feeds arbitrary cache files to parseEntry: it must never
// panic, and whatever it accepts must respect the limits and survive a
// write/read round trip.
func FuzzCacheEntry(f *testing.F) {
	f.Add(validEntryJSON(f))
	f.Add([]byte(`{"v":1,"url":"` + testURL + `","fetched":"2026-11-22T12:00:00Z","body":null}`))
	f.Add([]byte(`{"v":1,"url":"` + testURL + `","fetched":"2026-11-22T12:00:00Z","expires":"2026-11-22T12:01:00Z","header":{"A":["1","2"]},"body":""}`))
	f.Add([]byte(`{"v":1}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, b []byte) {
		const maxSize = 4096
		e, err := parseEntry(b, testURL, maxSize)
		if err != nil {
			if !errors.Is(err, errEntry) {
				t.Fatalf("error does not wrap errEntry: %v", err)
			}
			return
		}
		if e.URL != testURL || len(e.Body) > maxSize || headerSize(e.Header) > MaxHeaderBytes || e.Fetched.IsZero() {
			t.Fatalf("accepted an entry outside the limits: %+v", e)
		}
		g := &Getter{Dir: t.TempDir(), MaxSize: maxSize, MaxAge: time.Hour}
		if err := g.write(e); err != nil {
			t.Fatalf("write accepted entry: %v", err)
		}
		g.Now = func() time.Time { return e.Fetched }
		if e.fresh(e.Fetched, time.Hour) {
			if got := g.readFresh(testURL); got == nil || string(got.Body) != string(e.Body) {
				t.Fatalf("round trip lost the entry")
			}
		}
	})
}
