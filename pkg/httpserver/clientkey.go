package httpserver

import "net/netip"

// ClientKey is the key of per-client limits for the client address ip (as
// gin's ClientIP gives it): an IPv4 address is one client, an IPv6 address
// counts as its /64, the smallest network an ISP hands to one subscriber,
// who can pick any of its 2^64 addresses. Anything else is returned as is.
func ClientKey(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	addr = addr.Unmap()
	if addr.Is4() {
		return addr.String()
	}
	prefix, err := addr.WithZone("").Prefix(64)
	if err != nil {
		return ip
	}
	return prefix.String()
}
