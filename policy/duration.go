package policy

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/fxamacker/cbor/v2"
	"gopkg.in/yaml.v3"
)

// Duration is a time.Duration written as "24h" / "90s" in policy files (an
// integer is read as seconds) and encoded as integer seconds in JSON and in
// the canonical CBOR, so that the digest does not depend on how it was spelt.
type Duration time.Duration

// maxDurationSeconds keeps Duration arithmetic far from overflow (~100 years).
const maxDurationSeconds = 100 * 366 * 24 * 3600

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String renders d the way time.Duration does.
func (d Duration) String() string { return time.Duration(d).String() }

func parseDuration(s string) (Duration, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return secondsDuration(n)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("bad duration %q (want e.g. \"24h\", \"90s\" or integer seconds)", s)
	}
	if v < 0 {
		return 0, fmt.Errorf("negative duration %q", s)
	}
	if v%time.Second != 0 {
		return 0, fmt.Errorf("duration %q is not a whole number of seconds", s)
	}
	if v > maxDurationSeconds*time.Second {
		return 0, fmt.Errorf("duration %q exceeds 100 years", s)
	}
	return Duration(v), nil
}

func secondsDuration(n int64) (Duration, error) {
	if n < 0 || n > maxDurationSeconds {
		return 0, fmt.Errorf("duration %d s out of range (0..%d)", n, maxDurationSeconds)
	}
	return Duration(time.Duration(n) * time.Second), nil
}

// UnmarshalYAML reads "24h"-style strings or integer seconds.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	// A *yaml.TypeError carrying "line N:" lets Parse name the key and line.
	if n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: duration must be a scalar", n.Line)}}
	}
	v, err := parseDuration(n.Value)
	if err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %v", n.Line, err)}}
	}
	*d = v
	return nil
}

// MarshalYAML writes the "24h" form.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

func (d Duration) seconds() int64 { return int64(time.Duration(d) / time.Second) }

// MarshalJSON writes integer seconds (the canonical form).
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.seconds()) }

// UnmarshalJSON reads integer seconds or a "24h"-style string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := parseDuration(s)
		if err != nil {
			return err
		}
		*d = v
		return nil
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("duration: want integer seconds or a string: %w", err)
	}
	v, err := secondsDuration(n)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalCBOR writes integer seconds (the canonical form).
func (d Duration) MarshalCBOR() ([]byte, error) { return cbor.Marshal(d.seconds()) }

// UnmarshalCBOR reads integer seconds.
func (d *Duration) UnmarshalCBOR(b []byte) error {
	var n int64
	if err := cbor.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("duration: want integer seconds: %w", err)
	}
	v, err := secondsDuration(n)
	if err != nil {
		return err
	}
	*d = v
	return nil
}
