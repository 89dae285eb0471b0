package codes

import (
	"net/mail"
	"strings"
	"testing"
)

// FuzzNormalizeEmail: for any input, NormalizeEmail never panics, and what
// it returns is safe to put in Redis keys, Kafka keys and SMTP headers: a
// fixed point of itself, lower-case printable ASCII without spaces, CR/LF or
// braces, one '@', within RFC lengths, that the stdlib parser reads back as
// the same bare address; and it is the trimmed, lower-cased input.
func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{
		"user@example.com", "User.Name@Example.COM", "  a@b.co \t", "a+tag@mail.example.co.kr",
		"a@example.com\r\nBcc: victim@example.com", "user＠example.com", "аdmin@example.com", "\u212aelvin@example.com",
		"Alice <alice@example.com>", `"a b"@example.com`, "{a}@example.com", "a@[127.0.0.1]", "a..b@example.com",
		"a@example.xn--3e0b707e", strings.Repeat("a", 64) + "@example.com", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := NormalizeEmail(raw)
		if err != nil {
			if got != "" {
				t.Fatalf("refused %q but returned %q", raw, got)
			}
			return
		}
		if again, err := NormalizeEmail(got); err != nil || again != got {
			t.Fatalf("not a fixed point: %q -> %q -> %q, %v", raw, got, again, err)
		}
		if got != strings.ToLower(strings.TrimSpace(raw)) {
			t.Fatalf("%q normalized to %q, not its trimmed lower-case form", raw, got)
		}
		if len(got) > maxEmailLen || strings.Count(got, "@") != 1 || strings.ContainsAny(got, "{}\r\n ") {
			t.Fatalf("unsafe address accepted: %q", got)
		}
		for i := 0; i < len(got); i++ {
			if c := got[i]; c <= ' ' || c >= 0x7f || c >= 'A' && c <= 'Z' {
				t.Fatalf("byte %#x in accepted address %q", c, got)
			}
		}
		local, _, _ := strings.Cut(got, "@")
		if len(local) > maxLocalLen {
			t.Fatalf("local part longer than %d: %q", maxLocalLen, got)
		}
		if a, err := mail.ParseAddress(got); err != nil || a.Address != got || a.Name != "" {
			t.Fatalf("stdlib reads %q differently: %v %v", got, a, err)
		}
	})
}

// FuzzPolicyIdentity: for any input the mailbox policy accepts, the
// identity is itself a normalized address, maps to itself again, and the
// delivery form differs from the input only by surrounding space.
func FuzzPolicyIdentity(f *testing.F) {
	for _, s := range []string{
		"User.Name+tag@Gmail.com", "u.s.e.r@googlemail.com", "a.+x@example.com", "+tag@example.com",
		"a+b+c@example.co.kr", "...@gmail.com", "a.b@GOOGLEMAIL.COM", " Alice+Event@Example.com ", "x@gmail.co",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		for _, p := range []Policy{PolicyExact, PolicyMailbox} {
			a, err := p.Parse(raw)
			if err != nil {
				continue
			}
			if again, err := NormalizeEmail(a.Identity); err != nil || again != a.Identity {
				t.Fatalf("%s: identity %q of %q is not a normalized address (%q, %v)", p, a.Identity, raw, again, err)
			}
			if b, err := p.Parse(a.Identity); err != nil || b.Identity != a.Identity {
				t.Fatalf("%s: identity %q of %q is not a fixed point: %q, %v", p, a.Identity, raw, b.Identity, err)
			}
			if a.Delivery != strings.TrimSpace(raw) {
				t.Fatalf("%s: delivery %q is not the typed %q", p, a.Delivery, raw)
			}
		}
	})
}
