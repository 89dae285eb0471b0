package token

// decodeFastClaims reads the claims object in the one shape Mint writes
// (encoding/json's compact output): a flat object without whitespace whose
// keys are among fastClaims' own, each at most once, in exact case; string
// values of printable ASCII without escapes; times as whole decimal
// seconds; the audience as one string or a list of one string. For every
// body it accepts it gives what json.Unmarshal into fastClaims gives
// (FuzzDecodeFastClaimsMatchesEncodingJSON); anything else returns false,
// and the token goes to the generic parser. It allocates only the strings
// it returns.
func decodeFastClaims(b []byte) (fastClaims, bool) {
	var c fastClaims
	var seen [8]bool
	var times [3]float64 // exp, nbf, iat: one allocation for the three
	d := flatDecoder{b: b}
	if !d.byte('{') {
		return c, false
	}
	if d.byte('}') {
		return c, d.done()
	}
	for {
		start, end, ok := d.strSpan()
		if !ok || !d.byte(':') {
			return c, false
		}
		field := claimField(b[start:end])
		if field < 0 || seen[field] {
			return c, false
		}
		seen[field] = true
		switch field {
		case fieldAud:
			raw, ok := d.audience()
			if !ok {
				return c, false
			}
			c.Audience = raw
		case fieldExp, fieldNbf, fieldIat:
			v, ok := d.seconds()
			if !ok {
				return c, false
			}
			switch field {
			case fieldExp:
				times[0] = v
				c.ExpiresAt = &times[0]
			case fieldNbf:
				times[1] = v
				c.NotBefore = &times[1]
			default:
				times[2] = v
				c.IssuedAt = &times[2]
			}
		default:
			s, ok := d.str()
			if !ok {
				return c, false
			}
			switch field {
			case fieldSub:
				c.Subject = s
			case fieldEvt:
				c.Event = s
			case fieldDlv:
				c.Delivery = s
			default:
				c.Issuer = s
			}
		}
		if d.byte('}') {
			return c, d.done()
		}
		if !d.byte(',') {
			return c, false
		}
	}
}

// The claims decodeFastClaims knows, as indexes of its seen array.
const (
	fieldSub = iota
	fieldEvt
	fieldDlv
	fieldIss
	fieldAud
	fieldExp
	fieldNbf
	fieldIat
)

func claimField(key []byte) int {
	switch string(key) { // compared in place, not allocated
	case "sub":
		return fieldSub
	case "evt":
		return fieldEvt
	case "dlv":
		return fieldDlv
	case "iss":
		return fieldIss
	case "aud":
		return fieldAud
	case "exp":
		return fieldExp
	case "nbf":
		return fieldNbf
	case "iat":
		return fieldIat
	}
	return -1
}

// maxSecondDigits bounds a time: 12 digits is past the year 30000, and the
// fast path refuses anything beyond 2^40 s anyway.
const maxSecondDigits = 12

// flatDecoder walks b once, left to right.
type flatDecoder struct {
	b []byte
	i int
}

func (d *flatDecoder) done() bool { return d.i == len(d.b) }

// byte consumes c if it is next.
func (d *flatDecoder) byte(c byte) bool {
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

// strSpan consumes a string of printable ASCII other than '"' and '\\' and
// returns where its contents lie.
func (d *flatDecoder) strSpan() (start, end int, ok bool) {
	if !d.byte('"') {
		return 0, 0, false
	}
	start = d.i
	for ; d.i < len(d.b); d.i++ {
		switch c := d.b[d.i]; {
		case c == '"':
			end = d.i
			d.i++
			return start, end, true
		case c < 0x20 || c > 0x7e || c == '\\':
			return 0, 0, false
		}
	}
	return 0, 0, false
}

func (d *flatDecoder) str() (string, bool) {
	start, end, ok := d.strSpan()
	if !ok {
		return "", false
	}
	return string(d.b[start:end]), true
}

// audience consumes "x" or ["x"] and returns it as it stands (the raw JSON
// that fastClaims.Audience holds).
func (d *flatDecoder) audience() ([]byte, bool) {
	from := d.i
	list := d.byte('[')
	if _, _, ok := d.strSpan(); !ok {
		return nil, false
	}
	if list && !d.byte(']') {
		return nil, false
	}
	return d.b[from:d.i:d.i], true
}

// seconds consumes a whole number of seconds: decimal digits, no sign, no
// leading zero, no fraction or exponent.
func (d *flatDecoder) seconds() (float64, bool) {
	from := d.i
	var n int64
	for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
		n = n*10 + int64(d.b[d.i]-'0')
		d.i++
	}
	digits := d.i - from
	if digits == 0 || digits > maxSecondDigits || (digits > 1 && d.b[from] == '0') {
		return 0, false
	}
	return float64(n), true
}
