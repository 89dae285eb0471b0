// Package codes holds the pure rules of email verification: which email
// addresses are accepted and how they are normalized, how one-time codes are
// generated, and how a code is bound to an email with an HMAC so the code
// itself is never stored.
package codes

import (
	"errors"
	"net/mail"
	"strings"
)

// ErrInvalidEmail is returned for every address NormalizeEmail refuses.
var ErrInvalidEmail = errors.New("invalid email address")

// Limits from RFC 5321 (path and local-part lengths) and RFC 1035 (labels).
const (
	maxEmailLen  = 254
	maxLocalLen  = 64
	maxLabelLen  = 63
	minTLDLength = 2
)

// NormalizeEmail trims and lower-cases raw and returns it when it is a plain
// ASCII addr-spec: exactly one '@', a dot-atom local part of at most 64
// characters and a host name with at least two labels. Display names, quoted
// local parts, comments, IP literals, whitespace, control characters and any
// non-ASCII rune (homoglyphs, fullwidth '＠') are refused, because the
// address ends up in Redis keys, Kafka keys and SMTP headers.
func NormalizeEmail(raw string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" || len(s) > maxEmailLen {
		return "", ErrInvalidEmail
	}
	for i := 0; i < len(s); i++ {
		// Printable ASCII without space: refuses CR/LF, tabs, NUL and
		// every multi-byte UTF-8 sequence.
		if s[i] <= ' ' || s[i] >= 0x7f {
			return "", ErrInvalidEmail
		}
	}
	s = strings.ToLower(s)
	local, domain, ok := strings.Cut(s, "@")
	if !ok || strings.Contains(domain, "@") {
		return "", ErrInvalidEmail
	}
	if !validLocal(local) || !validDomain(domain) {
		return "", ErrInvalidEmail
	}
	// The stdlib parser is the second opinion: it must read the same bare
	// address back, with no display name.
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Name != "" || addr.Address != s {
		return "", ErrInvalidEmail
	}
	return s, nil
}

// validLocal accepts a dot-atom of RFC 5322 atext, minus the braces, which
// Redis Cluster would read as a hash tag inside a key.
func validLocal(local string) bool {
	if local == "" || len(local) > maxLocalLen {
		return false
	}
	if local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, "..") {
		return false
	}
	for i := 0; i < len(local); i++ {
		c := local[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case strings.IndexByte(".!#$%&'*+-/=?^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// validDomain accepts a host name: labels of letters, digits and inner
// hyphens, at least two of them, ending in an alphabetic (or punycode) TLD.
func validDomain(domain string) bool {
	if domain == "" || len(domain) > maxEmailLen-2 {
		return false
	}
	labels := strings.Split(domain, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > maxLabelLen || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return validTLD(labels[len(labels)-1])
}

func validTLD(tld string) bool {
	if strings.HasPrefix(tld, "xn--") && len(tld) > len("xn--") {
		return true
	}
	if len(tld) < minTLDLength {
		return false
	}
	for i := 0; i < len(tld); i++ {
		if tld[i] < 'a' || tld[i] > 'z' {
			return false
		}
	}
	return true
}
