package netguard

import "net/netip"

// metadataAddrs are the cloud instance metadata and credential services: a
// request that reaches one can read the machine's cloud credentials. They
// are refused under every Policy, Dev and AllowPrefixes included, because
// several sit inside networks Dev allows (Alibaba's in 100.64.0.0/10, AWS's
// IPv6 ones in fc00::/7) and an operator allowing a private network means
// their own services, never these. A function, not a package variable, so
// that nobody can change the list at run time.
func metadataAddrs() []netip.Addr {
	return []netip.Addr{
		netip.MustParseAddr("169.254.169.254"), // AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle, Hetzner, ...
		netip.MustParseAddr("169.254.170.2"),   // AWS ECS task credentials
		netip.MustParseAddr("169.254.170.23"),  // AWS EKS Pod Identity agent
		netip.MustParseAddr("169.254.0.23"),    // Tencent Cloud
		netip.MustParseAddr("100.100.100.200"), // Alibaba Cloud
		netip.MustParseAddr("192.0.0.192"),     // Oracle Cloud (legacy)
		netip.MustParseAddr("168.63.129.16"),   // Azure WireServer (VM agent configuration and secrets)
		netip.MustParseAddr("fd00:ec2::254"),   // AWS IMDS over IPv6
		netip.MustParseAddr("fd00:ec2::23"),    // AWS EKS Pod Identity agent over IPv6
		netip.MustParseAddr("fd20:ce::254"),    // GCP metadata over IPv6
	}
}

// metadataNames are host names of the same services, refused by
// ValidateURL under every Policy (their addresses are refused at connect
// time anyway; the name gives the user an answer at once).
func metadataNames() []string {
	return []string{"metadata", "metadata.google.internal", "instance-data", "instance-data.ec2.internal",
		"metadata.tencentyun.com"}
}

// isMetadata reports whether addr is a metadata service, in any spelling
// that reaches it: the address itself, IPv4-mapped (::ffff:a.b.c.d),
// IPv4-compatible (::a.b.c.d), through NAT64 (64:ff9b::/96, 64:ff9b:1::/48),
// 6to4 (2002::/16) or Teredo (2001::/32).
func isMetadata(addr netip.Addr) bool {
	addr = addr.WithZone("")
	candidates := []netip.Addr{addr.Unmap()}
	if addr.Is6() && !addr.Is4In6() {
		candidates = append(candidates, embeddedIPv4(addr)...)
	}
	for _, m := range metadataAddrs() {
		for _, c := range candidates {
			if c == m {
				return true
			}
		}
	}
	return false
}

// embeddedIPv4 returns the IPv4 addresses an IPv6 address carries by one of
// the transition mechanisms, which a gateway or relay may deliver to.
func embeddedIPv4(addr netip.Addr) []netip.Addr {
	b := addr.As16()
	v4 := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{b[i], b[i+1], b[i+2], b[i+3]}) }
	var out []netip.Addr
	switch {
	case netip.MustParsePrefix("64:ff9b::/96").Contains(addr), netip.MustParsePrefix("64:ff9b:1::/48").Contains(addr):
		out = append(out, v4(12))
	case netip.MustParsePrefix("2002::/16").Contains(addr):
		out = append(out, v4(2))
	case netip.MustParsePrefix("2001::/32").Contains(addr):
		// Teredo: the server's address as it is, the client's inverted.
		client := [4]byte{^b[12], ^b[13], ^b[14], ^b[15]}
		out = append(out, v4(4), netip.AddrFrom4(client))
	case netip.MustParsePrefix("::/96").Contains(addr):
		out = append(out, v4(12))
	}
	return out
}
