package codes

import "testing"

// TestPolicyIdentity: the mailbox policy folds the aliases of one mailbox
// into one participant and keeps other mailboxes apart; exact folds case only.
func TestPolicyIdentity(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, raw, mailbox, exact string
	}{
		{"plain", "user@example.com", "user@example.com", "user@example.com"},
		{"case", "User@Example.COM", "user@example.com", "user@example.com"},
		{"plus tag", "user+event@example.com", "user@example.com", "user+event@example.com"},
		{"two plus signs", "user+a+b@example.com", "user@example.com", "user+a+b@example.com"},
		{"gmail dots", "U.Ser.Name@gmail.com", "username@gmail.com", "u.ser.name@gmail.com"},
		{"googlemail alias", "user.name+x@GoogleMail.com", "username@gmail.com", "user.name+x@googlemail.com"},
		{"dots elsewhere are kept", "first.last@example.com", "first.last@example.com", "first.last@example.com"},
		{"gmail look-alike domain", "u.ser@gmail.co", "u.ser@gmail.co", "u.ser@gmail.co"},
		{"subdomain of gmail", "u.ser@mail.gmail.com", "u.ser@mail.gmail.com", "u.ser@mail.gmail.com"},
		{"leading plus kept", "+tag@example.com", "+tag@example.com", "+tag@example.com"},
		{"dot before tag", "a.+x@example.com", "a@example.com", "a.+x@example.com"},
		{"only dots before tag on gmail", "a.b+c@gmail.com", "ab@gmail.com", "a.b+c@gmail.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, c := range []struct {
				p    Policy
				want string
			}{{PolicyMailbox, tc.mailbox}, {PolicyExact, tc.exact}} {
				a, err := c.p.Parse("  " + tc.raw + " ")
				if err != nil {
					t.Fatalf("%s: %q refused: %v", c.p, tc.raw, err)
				}
				if a.Identity != c.want || a.Delivery != tc.raw {
					t.Fatalf("%s: %q = %+v, want identity %q and delivery as typed", c.p, tc.raw, a, c.want)
				}
			}
		})
	}
	if _, err := PolicyMailbox.Parse("a@example.com\r\nBcc: x@example.com"); err == nil {
		t.Fatal("an invalid address was accepted")
	}
	if _, err := ParsePolicy("loose"); err == nil {
		t.Fatal("an unknown policy was accepted")
	}
}
