package codes

import (
	"fmt"
	"strings"
)

// Policy decides when two addresses reach one mailbox, and so count as one
// participant: one code quota, one token subject, one application.
type Policy string

// The policies a deployment may choose (FAREWELL_EMAIL_POLICY).
const (
	// PolicyExact: one participant per address, compared without case
	// (what NormalizeEmail returns).
	PolicyExact Policy = "exact"
	// PolicyMailbox, the default: case folded, "+tag" sub-addressing
	// removed, and for Gmail the dots of the local part removed and
	// googlemail.com read as gmail.com.
	PolicyMailbox Policy = "mailbox"
)

// ParsePolicy returns the policy named s.
func ParsePolicy(s string) (Policy, error) {
	switch p := Policy(strings.TrimSpace(s)); p {
	case PolicyExact, PolicyMailbox:
		return p, nil
	default:
		return "", fmt.Errorf("unknown email policy %q (want %q or %q)", s, PolicyExact, PolicyMailbox)
	}
}

// Address is an accepted email address in its two forms.
type Address struct {
	// Delivery is the address as typed (trimmed): mail goes there.
	Delivery string
	// Identity is the participant the address belongs to under the policy:
	// the key of codes, limits, tokens, admissions and decisions.
	Identity string
}

// Parse validates raw with NormalizeEmail and returns its delivery form and
// its identity under p.
func (p Policy) Parse(raw string) (Address, error) {
	norm, err := NormalizeEmail(raw)
	if err != nil {
		return Address{}, err
	}
	return Address{Delivery: strings.TrimSpace(raw), Identity: p.identity(norm)}, nil
}

// identity maps a normalized address to its participant. The result is
// again a normalized address (a fixed point of NormalizeEmail and of
// itself), so it is as safe in keys as the input.
func (p Policy) identity(norm string) string {
	if p == PolicyExact {
		return norm
	}
	local, domain, _ := strings.Cut(norm, "@")
	if domain == "googlemail.com" {
		domain = "gmail.com"
	}
	if tag := strings.IndexByte(local, '+'); tag > 0 {
		local = local[:tag]
	}
	if domain == "gmail.com" {
		local = strings.ReplaceAll(local, ".", "")
	}
	// Removing a tag may leave a trailing dot ("a.+x"), which is no
	// dot-atom; no mailbox is named "a." anyway.
	local = strings.TrimRight(local, ".")
	if local == "" {
		return norm
	}
	return local + "@" + domain
}
