package netguard

import (
	"cmp"
	"errors"
	"net/netip"
	"syscall"

	"code.dny.dev/ssrf"
)

// DefaultMaxURLLength is the longest URL ValidateURL accepts when
// Policy.MaxURLLength is zero. Browsers and CDNs start failing a little above
// it, and it keeps stored URLs and log lines bounded.
const DefaultMaxURLLength = 2048

// Policy says which destinations outbound requests may reach. The zero value
// is the production policy: https only, any port, public addresses only.
type Policy struct {
	// Dev is development mode. It allows plain http, local host names
	// (localhost, *.localhost, *.local, *.internal) and loopback, private
	// (RFC 1918, fc00::/7) and shared (100.64.0.0/10) addresses, so that a
	// developer can point florad at services on their machine or in
	// containers. Link-local addresses, the unspecified address, multicast
	// and the other reserved ranges stay refused: nothing legitimate lives
	// there even during development. Cloud metadata services
	// (metadataAddrs: 169.254.169.254, 100.100.100.200, fd00:ec2::254, ...,
	// in every spelling, and their names such as metadata.google.internal)
	// are refused under every Policy, Dev and AllowPrefixes included.
	Dev bool

	// AllowHTTP permits the http scheme without relaxing any address check.
	// Tests use it with AllowPrefixes 127.0.0.1/32 so that they exercise the
	// real guard instead of turning it off.
	AllowHTTP bool

	// AllowPrefixes are networks allowed in addition to the public internet,
	// even if they would otherwise be refused (for example an internal
	// mirror, or 127.0.0.1/32 in tests). They apply to literal addresses in
	// URLs and to resolved addresses at connect time, never to host names.
	AllowPrefixes []netip.Prefix

	// Ports, when not empty, lists the only destination ports allowed.
	// Empty (the default) allows any port.
	Ports []uint16

	// MaxURLLength is the longest URL accepted, in bytes.
	// Zero means DefaultMaxURLLength.
	MaxURLLength int
}

// httpAllowed reports whether the plain http scheme may be used.
func (p Policy) httpAllowed() bool { return p.Dev || p.AllowHTTP }

// maxURLLength returns MaxURLLength with its default applied.
func (p Policy) maxURLLength() int { return cmp.Or(p.MaxURLLength, DefaultMaxURLLength) }

// devPrefixes are the networks Dev mode adds: where a developer's own
// services live (loopback, LAN, container and VPN networks). A function, not
// a package variable, so that nobody can append to it.
func devPrefixes() []netip.Prefix {
	return []netip.Prefix{
		netip.MustParsePrefix("127.0.0.0/8"),
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("172.16.0.0/12"),
		netip.MustParsePrefix("192.168.0.0/16"),
		netip.MustParsePrefix("100.64.0.0/10"),
		netip.MustParsePrefix("::1/128"),
		netip.MustParsePrefix("fc00::/7"),
	}
}

// guard decides whether an address may be connected to. It wraps
// code.dny.dev/ssrf, whose deny lists cover the IANA special-purpose
// registries (loopback, RFC 1918, link-local, CGNAT, multicast, broadcast,
// documentation, benchmarking, 6to4, everything outside IPv6 global
// unicast, ...), and adds address normalisation in front of it.
type guard struct {
	g *ssrf.Guardian
}

// newGuard builds the guard for p. It is immutable and safe for concurrent
// use, so a client builds it once.
func newGuard(p Policy) *guard {
	allowed := p.AllowPrefixes
	if p.Dev {
		allowed = append(devPrefixes(), allowed...)
	}
	var v4, v6 []netip.Prefix
	for _, pfx := range allowed {
		if !pfx.IsValid() {
			continue
		}
		pfx = pfx.Masked()
		addr := pfx.Addr()
		// An IPv4-mapped prefix such as ::ffff:127.0.0.1/128 means the IPv4
		// network: check addresses are unmapped before they reach the ssrf
		// guardian, so the prefix must be unmapped the same way to match.
		if addr.Is4In6() && pfx.Bits() >= 96 {
			pfx = netip.PrefixFrom(addr.Unmap(), pfx.Bits()-96)
			addr = pfx.Addr()
		}
		if addr.Is4() {
			v4 = append(v4, pfx)
		} else {
			v6 = append(v6, pfx)
		}
	}
	opts := []ssrf.Option{
		ssrf.WithAllowedV4Prefixes(v4...),
		ssrf.WithAllowedV6Prefixes(v6...),
		ssrf.WithAnyPort(),
	}
	if len(p.Ports) > 0 {
		opts = append(opts, ssrf.WithPorts(p.Ports...))
	}
	return &guard{g: ssrf.New(opts...)}
}

// check returns an error matching ErrBlocked when ap must not be reached.
func (g *guard) check(ap netip.AddrPort) error {
	addr := ap.Addr()
	if !addr.IsValid() {
		return newError("the destination address is not valid", nil, ErrBlocked)
	}
	// ::ffff:127.0.0.1 is 127.0.0.1 on the wire. The ssrf guardian would
	// refuse it anyway (it is outside IPv6 global unicast), but judging the
	// IPv4 address lets AllowPrefixes like 127.0.0.1/32 apply to both
	// spellings. Prefix.Contains never matches an address with a zone, so
	// the zone is dropped before matching; it does not change the address.
	addr = addr.Unmap().WithZone("")
	if isMetadata(addr) {
		return newError("the destination is a cloud metadata service, which is not allowed", nil, ErrBlocked)
	}
	if err := g.g.SafeAddrPort(netip.AddrPortFrom(addr, ap.Port())); err != nil {
		// The message leaves the address out: it may come from our own DNS
		// and users must not be able to map internal names through it. The
		// ssrf error, which names it, stays reachable as the cause for logs.
		if errors.Is(err, ssrf.ErrProhibitedPort) {
			return newError("the destination port is not allowed", err, ErrBlocked)
		}
		return newError("the host resolves to a private or reserved network address, which is not allowed", err, ErrBlocked)
	}
	return nil
}

// control is the net.Dialer Control hook. It runs after DNS resolution,
// once per address actually dialled and before the connect system call, so
// no packet ever reaches a refused address.
func (g *guard) control(network, address string, _ syscall.RawConn) error {
	if network != "tcp4" && network != "tcp6" {
		return newError("only TCP connections are allowed", nil, ErrBlocked)
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return newError("the destination address is not valid", err, ErrBlocked)
	}
	return g.check(ap)
}
