package fairlog

import (
	"strconv"
	"strings"
)

// Receipt is what apply-gateway signs when Kafka acknowledged an
// application: the event, the participant (salted hash), the place in line
// (the partition and offset the broker gave the message) and the accept
// time (the gateway's clock, unix ms).
type Receipt struct {
	Version     int    `json:"v"`
	Event       string `json:"event"`
	Participant string `json:"participant"`
	Partition   int32  `json:"partition"`
	Offset      int64  `json:"offset"`
	AcceptedAt  int64  `json:"acceptedAt"`
	KeyID       string `json:"kid"`
	Signature   string `json:"sig"`
}

// ReceiptVersion is the version of the signed form below.
const ReceiptVersion = 1

// SignedBytes is the exact text the signature covers: one field a line,
// in a fixed order, the key id included (event ids and hashes hold no
// newline; the gateway refuses event ids that do).
func (r Receipt) SignedBytes() []byte {
	var b strings.Builder
	b.WriteString("farewell-receipt-v")
	b.WriteString(strconv.Itoa(r.Version))
	for _, f := range []string{r.Event, r.Participant, strconv.FormatInt(int64(r.Partition), 10),
		strconv.FormatInt(r.Offset, 10), strconv.FormatInt(r.AcceptedAt, 10), r.KeyID} {
		b.WriteByte('\n')
		b.WriteString(f)
	}
	return []byte(b.String())
}

// SignReceipt fills in the version, key id and signature.
func (s *Signer) SignReceipt(r Receipt) Receipt {
	r.Version = ReceiptVersion
	r.KeyID = s.id
	_, r.Signature = s.Sign(r.SignedBytes())
	return r
}

// VerifyReceipt checks the receipt's signature.
func (ks KeySet) VerifyReceipt(r Receipt) error {
	return ks.Verify(r.KeyID, r.Signature, r.SignedBytes())
}
