package policy

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/seatrx/seatrx/receipt"
)

// The approval rule language: receipts.approval_rules is a list of rules
// tried in order against the action's "requested" object; the first whose
// conditions all hold decides who must approve. The last rule has no match
// and is the default. Without approval_rules the one rule is the legacy
// pair receipts.approvers + receipts.threshold (no approvers: the
// appraiser alone). The server's appraiser approval is required on top of
// every rule: it vouches for the attestation.

// Limits of the rule language, so that a policy stays small and evaluating
// it is cheap (numbers, as documented in policy/testdata/example.yaml).
const (
	// MaxRules bounds receipts.approval_rules.
	MaxRules = 64
	// MaxConditions bounds one rule's match list.
	MaxConditions = 8
	// MaxFieldDepth bounds the dotted path of a condition's field.
	MaxFieldDepth = 4
	// MaxOneOf bounds a condition's one_of list.
	MaxOneOf = 64
	// MaxRuleApprovers is how many approvers one rule may name: a receipt
	// carries at most receipt.MaxApprovers approvals, one of them the
	// appraiser's.
	MaxRuleApprovers = receipt.MaxApprovers - 1
	// MaxBound bounds at_least / below (2^53: exact as a float64 too).
	MaxBound = 1 << 53
	// MaxAuthorizationExpiry bounds receipts.authorization_expiry.
	MaxAuthorizationExpiry = 30 * 24 * time.Hour
	// MaxRequestedSize bounds the requested object a rule is evaluated on
	// (the whole action preimage is at most receipt.MaxActionSize).
	MaxRequestedSize = receipt.MaxActionSize
)

// DefaultRuleName names the one rule of a policy without approval_rules.
const DefaultRuleName = "default"

// ApprovalRule says who must approve the actions it matches.
type ApprovalRule struct {
	// Name identifies the rule in authorizations and logs; required, unique.
	Name string `yaml:"name" json:"name" cbor:"name"`
	// Match lists conditions that must all hold; absent only on the last
	// rule, which matches every action (the default rule).
	Match []Condition `yaml:"match,omitempty" json:"match,omitempty" cbor:"match,omitempty"`
	// Approvers are ids from receipts.approvers; empty means the appraiser
	// alone (no approval beyond the server's own).
	Approvers []string `yaml:"approvers,omitempty" json:"approvers,omitempty" cbor:"approvers,omitempty"`
	// Threshold is how many of Approvers must approve: 1..len(Approvers),
	// required when Approvers is not empty, absent otherwise.
	Threshold int `yaml:"threshold,omitempty" json:"threshold,omitempty" cbor:"threshold,omitempty"`
	// DenyEnds: one deny from Approvers ends the authorization. Without it
	// a deny ends it only once the threshold can no longer be reached.
	DenyEnds bool `yaml:"deny_ends,omitempty" json:"deny_ends,omitempty" cbor:"deny_ends,omitempty"`
}

// Condition is one test on a field of the action's requested object:
// either text (Equals or OneOf) or a numeric band (AtLeast, Below, or both).
type Condition struct {
	// Field is a key of requested, or a dotted path into nested objects
	// ("payment.amount"); at most MaxFieldDepth segments.
	Field string `yaml:"field" json:"field" cbor:"field"`
	// Equals holds when the field is this text.
	Equals string `yaml:"equals,omitempty" json:"equals,omitempty" cbor:"equals,omitempty"`
	// OneOf holds when the field is one of these texts.
	OneOf []string `yaml:"one_of,omitempty" json:"one_of,omitempty" cbor:"one_of,omitempty"`
	// AtLeast holds when the field is a number >= AtLeast.
	AtLeast *int64 `yaml:"at_least,omitempty" json:"at_least,omitempty" cbor:"at_least,omitempty"`
	// Below holds when the field is a number < Below.
	Below *int64 `yaml:"below,omitempty" json:"below,omitempty" cbor:"below,omitempty"`
}

func (c *Condition) text() bool { return c.Equals != "" || len(c.OneOf) > 0 }
func (c *Condition) band() bool { return c.AtLeast != nil || c.Below != nil }

// Rule is the rule that applies to one action, resolved against the
// approver list: who may approve, how many must, and what a deny does.
type Rule struct {
	Name string
	// Approvers are the rule's approvers, full entries, in the rule's order.
	Approvers []Approver
	// Threshold is how many of Approvers must approve (0 when none).
	Threshold int
	DenyEnds  bool
}

// NeedsApprovers reports whether the rule needs approvals beyond the
// appraiser's, i.e. whether an authorization under it waits.
func (r *Rule) NeedsApprovers() bool { return len(r.Approvers) > 0 }

// DenialsEnding is how many denies end an authorization under r: one with
// DenyEnds, else the number that makes the threshold unreachable.
func (r *Rule) DenialsEnding() int {
	if r.DenyEnds {
		return 1
	}
	return len(r.Approvers) - r.Threshold + 1
}

// RuleError is an action that the rules cannot be evaluated on: a field a
// condition tests is present with the wrong type (text where a number is
// tested, say), or requested is not decodable. It fails closed: guessing
// "no match" would let a requester pick a laxer rule by changing a type.
type RuleError struct {
	Rule  string // the rule whose condition could not be evaluated
	Field string // the condition's field ("" when requested itself is bad)
	Msg   string
}

func (e *RuleError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("approval rule %q: %s", e.Rule, e.Msg)
	}
	return fmt.Sprintf("approval rule %q: field %q: %s", e.Rule, e.Field, e.Msg)
}

// AuthorizationExpiryOrDefault is how long a pending authorization waits
// for its approvals: receipts.authorization_expiry, or
// receipt.DefaultAuthorizationExpiry when absent. (The default is not
// written into the canonical form, so that policies written before the key
// existed keep their digest.)
func (r *Receipts) AuthorizationExpiryOrDefault() time.Duration {
	if r.AuthorizationExpiry == nil {
		return receipt.DefaultAuthorizationExpiry
	}
	return time.Duration(*r.AuthorizationExpiry)
}

// approver returns the entry with id, or nil.
func (r *Receipts) approver(id string) *Approver {
	for i := range r.Approvers {
		if r.Approvers[i].ID == id {
			return &r.Approvers[i]
		}
	}
	return nil
}

// requestedDec decodes a requested object for rule evaluation: strict
// (no duplicate keys, no indefinite lengths), bounded, maps as map[any]any.
var requestedDec = func() cbor.DecMode {
	dm, err := cbor.DecOptions{
		DupMapKey: cbor.DupMapKeyEnforcedAPF, IndefLength: cbor.IndefLengthForbidden,
		MaxNestedLevels: 16, MaxArrayElements: 1024, MaxMapPairs: 1024,
		DefaultMapType: reflect.TypeOf(map[any]any(nil)), IntDec: cbor.IntDecConvertNone,
	}.DecMode()
	if err != nil {
		panic("policy: CBOR options: " + err.Error())
	}
	return dm
}()

// SelectRule returns the rule that applies to an action whose requested
// member is requested (deterministic CBOR, as in the action preimage; nil
// when the action has none): the first rule whose conditions all hold, the
// last (default) rule otherwise. A field tested with the wrong type is a
// *RuleError, never a silent non-match.
func (r *Receipts) SelectRule(requested []byte) (*Rule, error) {
	if len(r.ApprovalRules) == 0 {
		return r.resolve(ApprovalRule{Name: DefaultRuleName, Approvers: r.approverIDs(), Threshold: r.legacyThreshold()}), nil
	}
	var req any
	if len(requested) > 0 {
		if len(requested) > MaxRequestedSize {
			return nil, &RuleError{Rule: r.ApprovalRules[0].Name, Msg: fmt.Sprintf("requested is %d bytes, limit %d", len(requested), MaxRequestedSize)}
		}
		if err := requestedDec.Unmarshal(requested, &req); err != nil {
			return nil, &RuleError{Rule: r.ApprovalRules[0].Name, Msg: "requested is not well-formed CBOR: " + err.Error()}
		}
	}
	for _, rule := range r.ApprovalRules {
		ok, err := rule.matches(req)
		if err != nil {
			return nil, err
		}
		if ok {
			return r.resolve(rule), nil
		}
	}
	// Unreachable for a validated policy: its last rule has no match.
	return nil, &RuleError{Rule: r.ApprovalRules[len(r.ApprovalRules)-1].Name, Msg: "no rule matched and the last rule is not a default"}
}

func (r *Receipts) approverIDs() []string {
	ids := make([]string, len(r.Approvers))
	for i, a := range r.Approvers {
		ids[i] = a.ID
	}
	return ids
}

// legacyThreshold is receipts.threshold for the legacy default rule: with
// no approvers the appraiser alone is the approver, and nothing more waits.
func (r *Receipts) legacyThreshold() int {
	if len(r.Approvers) == 0 {
		return 0
	}
	return r.Threshold
}

func (r *Receipts) resolve(rule ApprovalRule) *Rule {
	out := &Rule{Name: rule.Name, Threshold: rule.Threshold, DenyEnds: rule.DenyEnds}
	for _, id := range rule.Approvers {
		if a := r.approver(id); a != nil {
			out.Approvers = append(out.Approvers, *a)
		}
	}
	return out
}

// matches reports whether every condition of rule holds on req.
func (rule *ApprovalRule) matches(req any) (bool, error) {
	for _, c := range rule.Match {
		v, ok := lookup(req, c.Field)
		if !ok {
			return false, nil
		}
		hold, err := c.holds(v)
		if err != nil {
			return false, &RuleError{Rule: rule.Name, Field: c.Field, Msg: err.Error()}
		}
		if !hold {
			return false, nil
		}
	}
	return true, nil
}

// lookup follows a dotted path through maps with text keys.
func lookup(v any, path string) (any, bool) {
	for seg := range strings.SplitSeq(path, ".") {
		m, ok := v.(map[any]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[seg]; !ok {
			return nil, false
		}
	}
	return v, true
}

func (c *Condition) holds(v any) (bool, error) {
	if c.text() {
		s, ok := v.(string)
		if !ok {
			return false, fmt.Errorf("is %s, the rule tests text", typeName(v))
		}
		if c.Equals != "" {
			return s == c.Equals, nil
		}
		return slices.Contains(c.OneOf, s), nil
	}
	n, err := number(v)
	if err != nil {
		return false, err
	}
	if c.AtLeast != nil && n.less(*c.AtLeast) {
		return false, nil
	}
	if c.Below != nil && !n.less(*c.Below) {
		return false, nil
	}
	return true, nil
}

// num is an integer or a float from requested, compared exactly with int64
// bounds.
type num struct {
	neg   bool    // an integer below zero (i holds it)
	i     int64   // a signed integer
	u     uint64  // a non-negative integer (isInt && !neg)
	f     float64 // a float (!isInt)
	isInt bool
}

func number(v any) (num, error) {
	switch x := v.(type) {
	case uint64:
		return num{u: x, isInt: true}, nil
	case int64:
		if x >= 0 {
			return num{u: uint64(x), isInt: true}, nil
		}
		return num{neg: true, i: x, isInt: true}, nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return num{}, errors.New("is not a finite number")
		}
		return num{f: x}, nil
	case float32:
		return number(float64(x))
	}
	return num{}, fmt.Errorf("is %s, the rule tests a number", typeName(v))
}

// less reports n < b.
func (n num) less(b int64) bool {
	switch {
	case !n.isInt:
		return n.f < float64(b) // |b| <= 2^53: exact
	case n.neg:
		return n.i < b
	case b < 0:
		return false
	default:
		return n.u < uint64(b)
	}
}

func typeName(v any) string {
	switch v.(type) {
	case string:
		return "text"
	case uint64, int64, float64, float32:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	case []byte:
		return "bytes"
	case []any:
		return "an array"
	case map[any]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// validateApprovals checks the approver set limits, the rules and the
// authorization expiry.
func (r *Receipts) validateApprovals() error {
	if e := r.AuthorizationExpiry; e != nil && (*e <= 0 || time.Duration(*e) > MaxAuthorizationExpiry) {
		return keyErr("receipts.authorization_expiry", "%v out of range (1s..%v)", *e, MaxAuthorizationExpiry)
	}
	if len(r.ApprovalRules) == 0 {
		if len(r.Approvers) > MaxRuleApprovers {
			return keyErr("receipts.approvers", "%d approvers form one set without approval_rules, max %d (a receipt carries at most %d approvals, one is the appraiser's)",
				len(r.Approvers), MaxRuleApprovers, receipt.MaxApprovers)
		}
		return nil
	}
	if r.Threshold != 1 {
		return keyErr("receipts.threshold", "applies to the approvers list only without approval_rules; with rules, each rule sets its own threshold")
	}
	if len(r.ApprovalRules) > MaxRules {
		return keyErr("receipts.approval_rules", "%d rules, max %d", len(r.ApprovalRules), MaxRules)
	}
	names := map[string]int{}
	for i, rule := range r.ApprovalRules {
		key := fmt.Sprintf("receipts.approval_rules[%d]", i)
		if err := checkName(key+".name", rule.Name, names, i); err != nil {
			return err
		}
		last := i == len(r.ApprovalRules)-1
		switch {
		case last && len(rule.Match) > 0:
			return keyErr(key+".match", "the last rule is the default and must not have match (it applies to every action no earlier rule matched)")
		case !last && len(rule.Match) == 0:
			return keyErr(key+".match", "required: only the last rule, the default, may omit match (this one would hide every rule after it)")
		case len(rule.Match) > MaxConditions:
			return keyErr(key+".match", "%d conditions, max %d", len(rule.Match), MaxConditions)
		}
		for j, c := range rule.Match {
			if err := c.validate(fmt.Sprintf("%s.match[%d]", key, j)); err != nil {
				return err
			}
		}
		if err := r.validateRuleApprovers(key, rule); err != nil {
			return err
		}
	}
	return nil
}

func (r *Receipts) validateRuleApprovers(key string, rule ApprovalRule) error {
	if len(rule.Approvers) > MaxRuleApprovers {
		return keyErr(key+".approvers", "%d approvers, max %d (a receipt carries at most %d approvals, one is the appraiser's)", len(rule.Approvers), MaxRuleApprovers, receipt.MaxApprovers)
	}
	seen := map[string]bool{}
	for j, id := range rule.Approvers {
		k := fmt.Sprintf("%s.approvers[%d]", key, j)
		if r.approver(id) == nil {
			return keyErr(k, "%q is not in receipts.approvers", id)
		}
		if seen[id] {
			return keyErr(k, "%q listed twice", id)
		}
		seen[id] = true
	}
	switch {
	case len(rule.Approvers) == 0 && rule.Threshold != 0:
		return keyErr(key+".threshold", "set without approvers: a rule without approvers needs the appraiser alone")
	case len(rule.Approvers) == 0 && rule.DenyEnds:
		return keyErr(key+".deny_ends", "set without approvers: nobody could deny")
	case len(rule.Approvers) > 0 && (rule.Threshold < 1 || rule.Threshold > len(rule.Approvers)):
		return keyErr(key+".threshold", "must be 1..%d (the rule's approvers), got %d", len(rule.Approvers), rule.Threshold)
	}
	return nil
}

func (c *Condition) validate(key string) error {
	if c.Field == "" {
		return keyErr(key+".field", "required")
	}
	segs := strings.Split(c.Field, ".")
	if len(segs) > MaxFieldDepth {
		return keyErr(key+".field", "%q has %d segments, max %d", c.Field, len(segs), MaxFieldDepth)
	}
	if slices.Contains(segs, "") || len(c.Field) > maxIDLen {
		return keyErr(key+".field", "%q: want a key or a dotted path of keys (at most %d bytes)", c.Field, maxIDLen)
	}
	switch {
	case c.text() && c.band():
		return keyErr(key, "tests text (equals, one_of) and a number (at_least, below) at once; write two conditions")
	case c.Equals != "" && len(c.OneOf) > 0:
		return keyErr(key, "equals and one_of together; use one")
	case !c.text() && !c.band():
		return keyErr(key, "tests nothing: give equals, one_of, at_least or below")
	case len(c.OneOf) > MaxOneOf:
		return keyErr(key+".one_of", "%d values, max %d", len(c.OneOf), MaxOneOf)
	}
	for i, s := range c.OneOf {
		if s == "" {
			return keyErr(fmt.Sprintf("%s.one_of[%d]", key, i), "empty text")
		}
	}
	for _, b := range []struct {
		name string
		v    *int64
	}{{"at_least", c.AtLeast}, {"below", c.Below}} {
		if b.v != nil && (*b.v > MaxBound || *b.v < -MaxBound) {
			return keyErr(key+"."+b.name, "%d outside ±2^53", *b.v)
		}
	}
	if c.AtLeast != nil && c.Below != nil && *c.AtLeast >= *c.Below {
		return keyErr(key, "empty band: at_least %d is not below %d", *c.AtLeast, *c.Below)
	}
	return nil
}

// ParseCanonical decodes a policy's canonical CBOR, as a receipt bundle or
// a keys document carries it (the policy_hash preimage), and validates it.
// Input that is not exactly the canonical form of a valid policy (unknown
// or duplicate keys, another encoding, absent defaults) is refused, so the
// policy returned hashes to the same policy_hash.
func ParseCanonical(b []byte) (*Policy, error) {
	if len(b) > receipt.MaxPolicySize {
		return nil, &Error{Msg: fmt.Sprintf("canonical policy is %d bytes, limit %d", len(b), receipt.MaxPolicySize)}
	}
	var p Policy
	if err := canonicalDec.Unmarshal(b, &p); err != nil {
		return nil, &Error{Msg: "canonical policy: " + err.Error(), Err: err}
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	c, err := p.CanonicalCBOR()
	if err != nil {
		return nil, &Error{Msg: err.Error(), Err: err}
	}
	if string(c) != string(b) {
		return nil, &Error{Msg: "not the canonical form of the policy it encodes (defaults absent, or another encoding)"}
	}
	return &p, nil
}

var canonicalDec = func() cbor.DecMode {
	dm, err := cbor.DecOptions{
		DupMapKey: cbor.DupMapKeyEnforcedAPF, IndefLength: cbor.IndefLengthForbidden,
		MaxNestedLevels: 16, MaxArrayElements: 4096, MaxMapPairs: 1024,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
	}.DecMode()
	if err != nil {
		panic("policy: CBOR options: " + err.Error())
	}
	return dm
}()
