package codes

import (
	"strings"
	"testing"
)

func TestNormalizeEmail(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		raw  string
		want string // empty: refused
	}{
		{name: "plain", raw: "user@example.com", want: "user@example.com"},
		{name: "uppercase is normalized", raw: "User.Name@Example.COM", want: "user.name@example.com"},
		{name: "surrounding spaces trimmed", raw: "  a@b.co \t", want: "a@b.co"},
		{name: "plus tag and subdomain", raw: "a+tag@mail.example.co.kr", want: "a+tag@mail.example.co.kr"},
		{name: "punycode tld", raw: "a@example.xn--3e0b707e", want: "a@example.xn--3e0b707e"},
		{name: "64 char local part", raw: strings.Repeat("a", 64) + "@example.com", want: strings.Repeat("a", 64) + "@example.com"},
		{name: "254 chars", raw: strings.Repeat("a", 64) + "@" + longDomain(254-65), want: strings.Repeat("a", 64) + "@" + longDomain(254-65)},
		{name: "empty", raw: ""},
		{name: "only spaces", raw: "   "},
		{name: "255 chars", raw: strings.Repeat("a", 64) + "@" + longDomain(255-65)},
		{name: "65 char local part", raw: strings.Repeat("a", 65) + "@example.com"},
		{name: "CRLF header injection", raw: "a@example.com\r\nBcc: victim@example.com"},
		{name: "LF inside", raw: "a@exa\nmple.com"},
		{name: "NUL byte", raw: "a\x00@example.com"},
		{name: "tab inside", raw: "a\t@example.com"},
		{name: "inner space", raw: "a b@example.com"},
		{name: "no at", raw: "user.example.com"},
		{name: "two ats", raw: "a@b@example.com"},
		{name: "empty local part", raw: "@example.com"},
		{name: "empty domain", raw: "a@"},
		{name: "missing tld", raw: "a@localhost"},
		{name: "numeric tld", raw: "a@example.123"},
		{name: "one letter tld", raw: "a@example.c"},
		{name: "trailing dot domain", raw: "a@example.com."},
		{name: "empty label", raw: "a@example..com"},
		{name: "leading hyphen label", raw: "a@-example.com"},
		{name: "underscore in domain", raw: "a@ex_ample.com"},
		{name: "ip literal", raw: "a@[127.0.0.1]"},
		{name: "display name", raw: "Alice <alice@example.com>"},
		{name: "angle brackets only", raw: "<alice@example.com>"},
		{name: "quoted local part", raw: `"a b"@example.com`},
		{name: "comment", raw: "alice(comment)@example.com"},
		{name: "leading dot local", raw: ".a@example.com"},
		{name: "double dot local", raw: "a..b@example.com"},
		{name: "braces (redis hash tag)", raw: "{a}@example.com"},
		{name: "fullwidth at sign", raw: "user＠example.com"},
		{name: "cyrillic homoglyph", raw: "аdmin@example.com"},
		{name: "unicode domain", raw: "a@exämple.com"},
		{name: "zero width space", raw: "a\u200b@example.com"},
		{name: "comma list", raw: "a@example.com,b@example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := NormalizeEmail(tt.raw)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("NormalizeEmail(%q) = %q, want refusal", tt.raw, got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("NormalizeEmail(%q) = %q, %v; want %q", tt.raw, got, err, tt.want)
			}
		})
	}
}

// longDomain returns a valid domain of exactly n characters.
func longDomain(n int) string {
	var b strings.Builder
	for b.Len() < n-4 {
		room := n - 4 - b.Len()
		if b.Len() > 0 {
			b.WriteByte('.')
			room--
		}
		b.WriteString(strings.Repeat("d", min(room, 63)))
	}
	b.WriteString(".com")
	return b.String()
}

func TestLongDomainHelper(t *testing.T) {
	t.Parallel()
	for _, n := range []int{189, 190} {
		if got := len(longDomain(n)); got != n {
			t.Fatalf("len(longDomain(%d)) = %d", n, got)
		}
	}
}

func TestGenerateCode(t *testing.T) {
	t.Parallel()
	const samples = 20000
	var firstDigit [10]int
	seen := map[string]bool{}
	for range samples {
		c, err := GenerateCode()
		if err != nil {
			t.Fatal(err)
		}
		if err := ValidateCode(c); err != nil {
			t.Fatalf("GenerateCode() = %q: %v", c, err)
		}
		firstDigit[c[0]-'0']++
		seen[c] = true
	}
	// Each leading digit expects samples/10 = 2000; ±25% is far outside
	// random noise (σ ≈ 42) but catches a biased or constant generator.
	for d, n := range firstDigit {
		if n < 1500 || n > 2500 {
			t.Errorf("leading digit %d appeared %d times in %d codes; distribution looks biased", d, n, samples)
		}
	}
	// With 10^6 codes, 20000 draws expect ~200 collisions.
	if len(seen) < samples-600 {
		t.Errorf("only %d distinct codes in %d draws", len(seen), samples)
	}
}

func TestValidateCode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		code string
		ok   bool
	}{
		{"six digits", "012345", true},
		{"five digits", "12345", false},
		{"seven digits", "1234567", false},
		{"letter", "12a456", false},
		{"space padded", " 12345", false},
		{"fullwidth digits", "１２３４５６", false},
		{"arabic-indic digits", "١٢٣٤٥٦", false},
		{"empty", "", false},
		{"sign", "-12345", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := ValidateCode(tt.code); (err == nil) != tt.ok {
				t.Fatalf("ValidateCode(%q) = %v, want ok=%v", tt.code, err, tt.ok)
			}
		})
	}
}

func TestHasher(t *testing.T) {
	t.Parallel()
	secret := []byte("k3y-0123456789-abcdefghijklmnopqrstuv")
	h, err := NewHasher(secret)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewHasher([]byte("another-k3y-0123456789-abcdefghijklmn"))
	sum := h.Sum("a@example.com", "123456")

	tests := []struct {
		name   string
		hasher Hasher
		email  string
		code   string
		want   bool
	}{
		{"same email and code", h, "a@example.com", "123456", true},
		{"other code", h, "a@example.com", "123457", false},
		{"other email", h, "b@example.com", "123456", false},
		{"other secret", other, "a@example.com", "123456", false},
		{"separator cannot be shifted", h, "a@example.com:1", "23456", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.hasher.Matches(tt.email, tt.code, sum); got != tt.want {
				t.Fatalf("Matches = %v, want %v", got, tt.want)
			}
		})
	}
	// Known answer, computed independently with
	// printf 'a@example.com:123456' | openssl dgst -sha256 -hmac '<secret>'.
	const want = "a4b63167d2250028e829263cd4d0e5008e49d891197b529841cccdaea9d8c226"
	if sum != want {
		t.Fatalf("Sum = %s, want %s", sum, want)
	}
	if _, err := NewHasher([]byte("short")); err == nil {
		t.Fatal("NewHasher accepted a short secret")
	}
}
