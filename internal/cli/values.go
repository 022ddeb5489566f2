package cli

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Flag values that refuse nonsense when they are set, so that a flag and a
// configuration file entry (which sets the same flag.Value) obey one rule
// and say in words what is allowed. Each names its placeholder in help
// through Type.

// BoolVar defines a boolean flag whose bad values are explained.
func BoolVar(fs *flag.FlagSet, p *bool, name string, def bool, usage string) {
	*p = def
	fs.Var((*boolValue)(p), name, usage)
}

type boolValue bool

func (b *boolValue) String() string {
	if b == nil {
		return "false"
	}
	return strconv.FormatBool(bool(*b))
}

func (b *boolValue) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return errors.New("want true or false")
	}
	*b = boolValue(v)
	return nil
}

func (b *boolValue) IsBoolFlag() bool { return true }

// EnumVar defines a string flag that accepts only the allowed values.
func EnumVar(fs *flag.FlagSet, p *string, name, def string, allowed []string, usage string) {
	*p = def
	fs.Var(&enumValue{p: p, allowed: allowed}, name, usage)
}

type enumValue struct {
	p       *string
	allowed []string
}

func (e *enumValue) String() string {
	if e == nil || e.p == nil {
		return ""
	}
	return *e.p
}

func (e *enumValue) Set(s string) error {
	if !slices.Contains(e.allowed, s) {
		want := OneOf(e.allowed)
		if slices.Contains(e.allowed, "") {
			want = OneOf(slices.DeleteFunc(slices.Clone(e.allowed), func(a string) bool { return a == "" })) + ", or empty"
		}
		return fmt.Errorf("want %s", want)
	}
	*e.p = s
	return nil
}

func (e *enumValue) Type() string {
	var named []string
	for _, a := range e.allowed {
		if a != "" {
			named = append(named, a)
		}
	}
	return strings.Join(named, "|")
}

// OneOf renders allowed values for a message: "a, b or c".
func OneOf(allowed []string) string {
	switch len(allowed) {
	case 0:
		return "nothing"
	case 1:
		return allowed[0]
	}
	return strings.Join(allowed[:len(allowed)-1], ", ") + " or " + allowed[len(allowed)-1]
}

// IntVar defines an integer flag with an inclusive range.
func IntVar(fs *flag.FlagSet, p *int, name string, def, lo, hi int, usage string) {
	*p = def
	fs.Var(&intValue{p: p, lo: lo, hi: hi}, name, usage)
}

type intValue struct {
	p      *int
	lo, hi int
}

func (v *intValue) String() string {
	if v == nil || v.p == nil {
		return "0"
	}
	return strconv.Itoa(*v.p)
}

func (v *intValue) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil || n < v.lo || n > v.hi {
		return fmt.Errorf("want a whole number from %d to %d", v.lo, v.hi)
	}
	*v.p = n
	return nil
}

func (v *intValue) Type() string { return "N" }

// DurationVar defines a duration flag of at least lo.
func DurationVar(fs *flag.FlagSet, p *time.Duration, name string, def, lo time.Duration, usage string) {
	*p = def
	fs.Var(&durationValue{p: p, lo: lo}, name, usage)
}

type durationValue struct {
	p  *time.Duration
	lo time.Duration
}

func (v *durationValue) String() string {
	if v == nil || v.p == nil {
		return "0s"
	}
	return v.p.String()
}

func (v *durationValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil || d < v.lo {
		if v.lo > 0 {
			return fmt.Errorf("want a duration of at least %s, such as 30s, 5m or 1h30m", v.lo)
		}
		return errors.New("want a duration of 0 or more, such as 0s, 30s or 5m")
	}
	*v.p = d
	return nil
}

func (v *durationValue) Type() string { return "DURATION" }

// AddrVar defines a TCP listen address flag, HOST:PORT (HOST may be empty:
// every interface; PORT 0: any free port).
func AddrVar(fs *flag.FlagSet, p *string, name, def, usage string) {
	*p = def
	fs.Var((*addrValue)(p), name, usage)
}

type addrValue string

func (a *addrValue) String() string {
	if a == nil {
		return ""
	}
	return string(*a)
}

func (a *addrValue) Set(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return errors.New("want HOST:PORT, e.g. 127.0.0.1:8443, [::1]:8443 or :8443")
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || (n == 0 && port != "0") {
		return fmt.Errorf("port %q: want a number from 0 to 65535", port)
	}
	if strings.ContainsAny(host, " /\t") {
		return fmt.Errorf("host %q: want an IP address or a host name", host)
	}
	*a = addrValue(s)
	return nil
}

func (a *addrValue) Type() string { return "HOST:PORT" }

// StringsVar defines a repeatable string flag: each use appends one value
// (--keys A --keys B). An empty value is refused.
func StringsVar(fs *flag.FlagSet, p *[]string, name, usage string) {
	fs.Var(&stringsValue{p: p}, name, usage)
}

type stringsValue struct{ p *[]string }

func (v *stringsValue) String() string {
	if v.p == nil {
		return ""
	}
	return strings.Join(*v.p, ",")
}

func (v *stringsValue) Set(s string) error {
	if s == "" {
		return errors.New("want a non-empty value")
	}
	*v.p = append(*v.p, s)
	return nil
}

// SizeVar defines a byte-size flag: a whole number of bytes with an
// optional unit (B, KiB, MiB, GiB; also KB, MB, GB, which mean the same
// powers of 1024 here), from lo to hi bytes.
func SizeVar(fs *flag.FlagSet, p *int64, name string, def, lo, hi int64, usage string) {
	*p = def
	fs.Var(&sizeValue{p: p, lo: lo, hi: hi}, name, usage)
}

type sizeValue struct {
	p      *int64
	lo, hi int64
}

var sizeUnits = []struct {
	suffix string
	mult   int64
}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"B", 1}}

func (v *sizeValue) String() string {
	if v == nil || v.p == nil {
		return "0"
	}
	return FormatSize(*v.p)
}

// FormatSize writes n bytes in the largest unit that divides it.
func FormatSize(n int64) string {
	for _, u := range sizeUnits[:3] {
		if n != 0 && n%u.mult == 0 {
			return strconv.FormatInt(n/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

func (v *sizeValue) Set(s string) error {
	num, mult := s, int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(s, u.suffix) {
			num, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > v.hi/mult || n*mult < v.lo {
		return fmt.Errorf("want a size from %s to %s, such as 512MiB or 1GiB", FormatSize(v.lo), FormatSize(v.hi))
	}
	*v.p = n * mult
	return nil
}

func (v *sizeValue) Type() string { return "SIZE" }
