package netguard

import (
	"net/netip"
	"testing"

	"code.dny.dev/ssrf"
	"github.com/stretchr/testify/require"
)

func TestGuardCheck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		policy  Policy
		addr    string
		allowed bool
	}{
		{"public IPv4", Policy{}, "93.184.216.34:443", true},
		{"public IPv6", Policy{}, "[2606:4700::1]:443", true},
		{"any port by default", Policy{}, "93.184.216.34:6379", true},
		{"loopback", Policy{}, "127.0.0.1:80", false},
		{"mapped loopback", Policy{}, "[::ffff:127.0.0.1]:80", false},
		{"private", Policy{}, "10.0.0.1:80", false},
		{"metadata", Policy{}, "169.254.169.254:80", false},
		{"IPv6 loopback", Policy{}, "[::1]:80", false},
		{"IPv6 link-local with zone", Policy{}, "[fe80::1%eth0]:80", false},
		{"ULA", Policy{}, "[fd00::1]:80", false},
		{"dev loopback", Policy{Dev: true}, "127.0.0.1:80", true},
		{"dev mapped loopback", Policy{Dev: true}, "[::ffff:127.0.0.1]:80", true},
		{"dev private", Policy{Dev: true}, "192.168.1.1:80", true},
		{"dev IPv6 loopback", Policy{Dev: true}, "[::1]:80", true},
		{"dev ULA", Policy{Dev: true}, "[fd00::1]:80", true},
		{"dev metadata", Policy{Dev: true}, "169.254.169.254:80", false},
		{"dev unspecified", Policy{Dev: true}, "0.0.0.0:80", false},
		{"dev IPv6 link-local", Policy{Dev: true}, "[fe80::1]:80", false},
		{"allowed prefix", loopbackOnly(), "127.0.0.1:80", true},
		{"allowed prefix, mapped", loopbackOnly(), "[::ffff:127.0.0.1]:80", true},
		{"outside allowed prefix", loopbackOnly(), "127.0.0.2:80", false},
		{"unmasked prefix", Policy{AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("10.1.2.3/8")}}, "10.200.0.1:80", true},
		{"mapped prefix", Policy{AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("::ffff:10.0.0.0/104")}}, "10.200.0.1:80", true},
		{"zero prefix ignored", Policy{AllowPrefixes: []netip.Prefix{{}}}, "10.0.0.1:80", false},
		{"port listed", Policy{Ports: []uint16{443}}, "93.184.216.34:443", true},
		{"port not listed", Policy{Ports: []uint16{443}}, "93.184.216.34:80", false},
		{"port not listed, allowed prefix", Policy{Ports: []uint16{443}, AllowPrefixes: loopbackOnly().AllowPrefixes}, "127.0.0.1:80", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := newGuard(tt.policy).check(netip.MustParseAddrPort(tt.addr))
			if tt.allowed {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrBlocked)
			require.NotContains(t, err.Error(), netip.MustParseAddrPort(tt.addr).Addr().Unmap().String(),
				"the user-facing message must not reveal resolved addresses")
		})
	}
}

func TestGuardCheckKeepsCause(t *testing.T) {
	t.Parallel()
	err := newGuard(Policy{}).check(netip.MustParseAddrPort("10.0.0.1:80"))
	require.ErrorIs(t, err, ssrf.ErrProhibitedIP)
	err = newGuard(Policy{Ports: []uint16{443}}).check(netip.MustParseAddrPort("93.184.216.34:80"))
	require.ErrorIs(t, err, ssrf.ErrProhibitedPort)
	require.Contains(t, err.Error(), "port")
}

func TestGuardControl(t *testing.T) {
	t.Parallel()
	g := newGuard(Policy{})
	require.NoError(t, g.control("tcp4", "93.184.216.34:443", nil))
	require.NoError(t, g.control("tcp6", "[2606:4700::1]:443", nil))
	require.ErrorIs(t, g.control("tcp4", "127.0.0.1:443", nil), ErrBlocked)
	require.ErrorIs(t, g.control("udp4", "93.184.216.34:53", nil), ErrBlocked)
	require.ErrorIs(t, g.control("tcp4", "not-an-address", nil), ErrBlocked)
}

func TestDevPrefixesAreFresh(t *testing.T) {
	t.Parallel()
	a := devPrefixes()
	a[0] = netip.MustParsePrefix("0.0.0.0/0")
	require.NotEqual(t, a[0], devPrefixes()[0])
}

// TestMetadataRefusedUnderEveryPolicy: every metadata address, in every
// spelling that reaches it, is refused at connect time under Dev and under
// AllowPrefixes that cover it, while its neighbours are allowed there.
func TestMetadataRefusedUnderEveryPolicy(t *testing.T) {
	t.Parallel()
	everything := Policy{AllowHTTP: true, AllowPrefixes: []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}}
	policies := map[string]Policy{"production": {}, "dev": {Dev: true}, "dev allowing everything": {
		Dev: true, AllowPrefixes: everything.AllowPrefixes}, "allowing everything": everything}

	spellings := []string{
		"169.254.169.254", "::ffff:169.254.169.254", "::ffff:a9fe:a9fe", "::169.254.169.254",
		"64:ff9b::a9fe:a9fe", "64:ff9b:1::a9fe:a9fe", "2002:a9fe:a9fe::", "2001:0:a9fe:a9fe::",
		"2001:0:102:304::5601:5601",
		"169.254.170.2", "169.254.170.23", "169.254.0.23", "168.63.129.16",
		"100.100.100.200", "::ffff:100.100.100.200", "::ffff:6464:64c8", "64:ff9b::6464:64c8", "2002:6464:64c8::1",
		"192.0.0.192", "::ffff:192.0.0.192",
		"fd00:ec2::254", "fd00:ec2:0:0:0:0:0:254", "fd00:ec2::254%eth0", "fd00:ec2::23", "fd20:ce::254",
	}
	for name, p := range policies {
		g := newGuard(p)
		for _, s := range spellings {
			addr := netip.MustParseAddr(s)
			err := g.check(netip.AddrPortFrom(addr, 80))
			require.ErrorIs(t, err, ErrBlocked, "%s under %s", s, name)
			require.ErrorContains(t, err, "metadata", "%s under %s", s, name)
			require.ErrorIs(t, g.control(map[bool]string{true: "tcp4", false: "tcp6"}[addr.Is4()],
				netip.AddrPortFrom(addr, 80).String(), nil), ErrBlocked, "%s under %s", s, name)
		}
	}
	// Exact addresses, not networks: the neighbours stay what Dev makes them.
	dev := newGuard(Policy{Dev: true})
	for _, s := range []string{"100.100.100.199", "100.100.100.201", "fd00:ec2::253", "fd00:ec2::1:254", "192.168.169.254"} {
		require.NoError(t, dev.check(netip.AddrPortFrom(netip.MustParseAddr(s), 80)), s)
	}
}

func TestEmbeddedIPv4(t *testing.T) {
	t.Parallel()
	for in, want := range map[string][]string{
		"64:ff9b::a9fe:a9fe":        {"169.254.169.254"},
		"64:ff9b:1::a9fe:a9fe":      {"169.254.169.254"},
		"2002:a9fe:a9fe::1":         {"169.254.169.254"},
		"2001:0:a9fe:a9fe::":        {"169.254.169.254", "255.255.255.255"},
		"2001:0:102:304::5601:5601": {"1.2.3.4", "169.254.169.254"},
		"::a9fe:a9fe":               {"169.254.169.254"},
		"2606:4700::1":              nil,
		"fd00:ec2::254":             nil,
	} {
		var got []string
		for _, a := range embeddedIPv4(netip.MustParseAddr(in)) {
			got = append(got, a.String())
		}
		require.Equal(t, want, got, in)
	}
}

func TestMetadataListsAreFresh(t *testing.T) {
	t.Parallel()
	a := metadataAddrs()
	a[0] = netip.MustParseAddr("1.1.1.1")
	require.Equal(t, netip.MustParseAddr("169.254.169.254"), metadataAddrs()[0])
	n := metadataNames()
	n[0] = "example.com"
	require.Equal(t, "metadata", metadataNames()[0])
}
