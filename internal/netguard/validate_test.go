package netguard

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// loopbackOnly is the honest test policy: plain http, and exactly the one
// loopback address test servers listen on, through the same allow list a
// deployment would use.
func loopbackOnly() Policy {
	return Policy{AllowHTTP: true, AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
}

func TestValidateURLAccepts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		url    string
		policy Policy
	}{
		{"https", "https://example.com/a.png", Policy{}},
		{"query and fragment", "https://example.com/a.png?x=1#y", Policy{}},
		{"port", "https://example.com:8443/a.png", Policy{}},
		{"upper case", "HTTPS://EXAMPLE.COM/a.png", Policy{}},
		{"trailing dot", "https://example.com./a.png", Policy{}},
		{"public IPv4", "https://8.8.8.8/a.png", Policy{}},
		{"public IPv6", "https://[2606:4700:4700::1111]/a.png", Policy{}},
		{"punycode", "https://xn--bcher-kva.example/a.png", Policy{}},
		{"local as inner label", "https://printer.local.example.com/a.png", Policy{}},
		{"name that looks numeric inside", "https://127.0.0.1.example.com/a.png", Policy{}},
		{"http with AllowHTTP", "http://example.com/a.png", Policy{AllowHTTP: true}},
		{"listed port", "https://example.com:8443/", Policy{Ports: []uint16{443, 8443}}},
		{"default port listed", "https://example.com/", Policy{Ports: []uint16{443}}},
		{"dev http localhost", "http://localhost:3000/a.png", Policy{Dev: true}},
		{"dev subdomain localhost", "http://cdn.localhost:3000/a.png", Policy{Dev: true}},
		{"dev docker host", "http://host.docker.internal/a.png", Policy{Dev: true}},
		{"dev loopback", "http://127.0.0.1:8080/a.png", Policy{Dev: true}},
		{"dev RFC1918", "http://192.168.1.10/a.png", Policy{Dev: true}},
		{"dev CGNAT", "http://100.100.1.1/a.png", Policy{Dev: true}},
		{"dev IPv6 loopback", "http://[::1]:8080/a.png", Policy{Dev: true}},
		{"dev ULA", "http://[fd00::1]/a.png", Policy{Dev: true}},
		{"allowed prefix", "http://127.0.0.1:1234/a.png", loopbackOnly()},
		{"allowed prefix, mapped spelling", "http://[::ffff:127.0.0.1]:1234/a.png", loopbackOnly()},
		{"allowed private network", "https://10.1.2.3/a.png", Policy{AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}},
		{"allowed mapped prefix", "https://127.0.0.1/", Policy{AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("::ffff:127.0.0.1/128")}}},
		{"allowed IPv6 prefix", "https://[fd00::5]/", Policy{AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("fd00::/64")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.NoError(t, ValidateURL(tt.url, tt.policy))
		})
	}
}

func TestValidateURLRefuses(t *testing.T) {
	t.Parallel()
	dev := Policy{Dev: true}
	tests := []struct {
		name    string
		url     string
		policy  Policy
		blocked bool   // the destination, not the syntax, is refused
		message string // part of the message the API user sees
	}{
		{"empty", "", Policy{}, false, "empty"},
		{"too long", "https://example.com/" + strings.Repeat("a", 3000), Policy{}, false, "longer than 2048"},
		{"custom max length", "https://example.com/abcdef", Policy{MaxURLLength: 10}, false, "longer than 10"},
		{"unparsable", "https://exa mple.com/", Policy{}, false, "not valid"},
		{"relative", "example.com/a.png", Policy{}, false, "absolute"},
		{"path only", "/a.png", Policy{}, false, "absolute"},
		{"http in production", "http://example.com/a.png", Policy{}, false, "must be https"},
		{"ftp", "ftp://example.com/a.png", Policy{}, false, "must be https"},
		{"ftp with http allowed", "ftp://example.com/a.png", Policy{AllowHTTP: true}, false, "http or https"},
		{"file", "file:///etc/passwd", Policy{}, false, "must be https"},
		{"javascript", "javascript:alert(1)", Policy{}, false, "must be https"},
		{"gopher", "gopher://127.0.0.1:6379/_FLUSHALL", dev, false, "http or https"},
		{"opaque", "https:example.com", Policy{}, false, "host"},
		{"no host", "https:///a.png", Policy{}, false, "host"},
		{"port only", "https://:443/a.png", Policy{}, false, "host"},
		{"userinfo", "https://user:pass@example.com/", Policy{}, false, "user name or password"},
		{"user only", "https://user@example.com/", Policy{}, false, "user name or password"},
		{"port zero", "https://example.com:0/", Policy{}, false, "port"},
		{"port too big", "https://example.com:99999/", Policy{}, false, "port"},
		{"port not listed", "https://example.com:8443/", Policy{Ports: []uint16{443}}, true, "port"},
		{"unicode host", "https://ｌｏｃａｌｈｏｓｔ/", Policy{}, false, "punycode"},
		{"localhost", "https://localhost/", Policy{}, true, "local"},
		{"localhost upper case dot", "https://LOCALHOST./", Policy{}, true, "local"},
		{"localhost with port", "https://localhost:8443/", Policy{}, true, "local"},
		{"subdomain of localhost", "https://evil.localhost/", Policy{}, true, "local"},
		{"mDNS", "https://printer.local/", Policy{}, true, "local"},
		{"internal", "https://db.internal/", Policy{}, true, "internal"},
		{"home.arpa", "https://nas.home.arpa/", Policy{}, true, "local"},
		{"GCP metadata", "https://metadata.google.internal/computeMetadata/v1/", Policy{}, true, "metadata"},
		{"GCP metadata in dev", "http://metadata.google.internal/computeMetadata/v1/", dev, true, "metadata"},
		{"GCP metadata short name", "http://metadata/computeMetadata/v1/", dev, true, "metadata"},
		{"double trailing dot", "https://example.com../", Policy{}, false, "not a valid host"},

		{"loopback", "https://127.0.0.1/", Policy{}, true, "reserved network"},
		{"loopback end of range", "https://127.255.255.254/", Policy{}, true, "reserved network"},
		{"RFC1918 10", "https://10.0.0.1/", Policy{}, true, "reserved network"},
		{"RFC1918 172", "https://172.16.0.1/", Policy{}, true, "reserved network"},
		{"RFC1918 192", "https://192.168.0.1/", Policy{}, true, "reserved network"},
		{"link-local metadata", "https://169.254.169.254/latest/meta-data/", Policy{}, true, "reserved network"},
		{"CGNAT", "https://100.64.0.1/", Policy{}, true, "reserved network"},
		{"unspecified", "https://0.0.0.0/", Policy{}, true, "reserved network"},
		{"this network", "https://0.1.2.3/", Policy{}, true, "reserved network"},
		{"multicast", "https://224.0.0.1/", Policy{}, true, "reserved network"},
		{"broadcast", "https://255.255.255.255/", Policy{}, true, "reserved network"},
		{"documentation", "https://192.0.2.1/", Policy{}, true, "reserved network"},
		{"benchmarking", "https://198.18.0.1/", Policy{}, true, "reserved network"},
		{"decimal", "https://2130706433/", Policy{}, true, "reserved network"},
		{"decimal metadata", "https://2852039166/", Policy{}, true, "reserved network"},
		{"decimal private", "https://3232235521/", Policy{}, true, "reserved network"},
		{"octal", "https://0177.0.0.1/", Policy{}, true, "reserved network"},
		{"octal whole", "https://017700000001/", Policy{}, true, "reserved network"},
		{"hex", "https://0x7f.0.0.1/", Policy{}, true, "reserved network"},
		{"hex upper case", "https://0X7F.0.0.1/", Policy{}, true, "reserved network"},
		{"hex whole", "https://0x7f000001/", Policy{}, true, "reserved network"},
		{"hex metadata", "https://0xa9fea9fe/", Policy{}, true, "reserved network"},
		{"short form", "https://127.1/", Policy{}, true, "reserved network"},
		{"three parts", "https://127.0.1/", Policy{}, true, "reserved network"},
		{"mixed radix", "https://0x7f.0.01/", Policy{}, true, "reserved network"},
		{"leading zeros", "https://127.000.000.001/", Policy{}, true, "reserved network"},
		{"trailing dot IP", "https://127.0.0.1./", Policy{}, true, "reserved network"},
		{"IPv6 loopback", "https://[::1]/", Policy{}, true, "reserved network"},
		{"IPv6 unspecified", "https://[::]/", Policy{}, true, "reserved network"},
		{"IPv4-mapped", "https://[::ffff:127.0.0.1]/", Policy{}, true, "reserved network"},
		{"IPv4-mapped hex", "https://[::ffff:7f00:1]/", Policy{}, true, "reserved network"},
		{"IPv4-mapped metadata", "https://[::ffff:169.254.169.254]/", Policy{}, true, "reserved network"},
		{"IPv4-compatible", "https://[::127.0.0.1]/", Policy{}, true, "reserved network"},
		{"NAT64 loopback", "https://[64:ff9b::7f00:1]/", Policy{}, true, "reserved network"},
		{"6to4", "https://[2002:7f00:1::]/", Policy{}, true, "reserved network"},
		{"IPv6 documentation", "https://[2001:db8::1]/", Policy{}, true, "reserved network"},
		{"IPv6 link-local", "https://[fe80::1]/", Policy{}, true, "reserved network"},
		{"IPv6 zone", "https://[fe80::1%25eth0]/", Policy{}, true, "zone"},
		{"IPv6 zone on loopback in dev", "http://[::1%25lo]/", dev, true, "zone"},
		{"ULA", "https://[fd12:3456::1]/", Policy{}, true, "reserved network"},
		{"ULA fc", "https://[fc00::1]/", Policy{}, true, "reserved network"},
		{"IPv6 multicast", "https://[ff02::1]/", Policy{}, true, "reserved network"},

		{"dev link-local metadata", "http://169.254.169.254/", dev, true, "reserved network"},
		{"dev IPv6 link-local", "http://[fe80::1]/", dev, true, "reserved network"},
		{"dev unspecified", "http://0.0.0.0:8080/", dev, true, "reserved network"},
		{"dev multicast", "http://224.0.0.1/", dev, true, "reserved network"},
		{"dev non-standard loopback", "http://127.1/", dev, false, "non-standard"},
		{"outside allowed prefix", "http://127.0.0.2:1234/", loopbackOnly(), true, "reserved network"},
		{"allowed prefix does not allow names", "http://localhost:1234/", loopbackOnly(), true, "local"},
		{"allowed prefix does not allow decimal", "http://2130706433:1234/", loopbackOnly(), false, "non-standard"},

		{"non-standard public", "https://134744072/", Policy{}, false, "non-standard"},
		{"octet too big", "https://256.0.0.1/", Policy{}, false, "not a valid IP"},
		{"too many parts", "https://1.2.3.4.5/", Policy{}, false, "not a valid IP"},
		{"number too big", "https://4294967296/", Policy{}, false, "not a valid IP"},
		{"huge number", "https://99999999999999999999999/", Policy{}, false, "not a valid IP"},
		{"bad octal", "https://09.0.0.1/", Policy{}, false, "not a valid IP"},
		{"empty part", "https://1..2/", Policy{}, false, "not a valid IP"},
		{"bad IPv6", "https://[fe80::zz]/", Policy{}, false, "not valid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := ValidateURL(tt.url, tt.policy)
			require.Error(t, err)
			require.ErrorIs(t, err, ErrInvalidURL)
			if tt.blocked {
				require.ErrorIs(t, err, ErrBlocked)
			} else {
				require.NotErrorIs(t, err, ErrBlocked)
			}
			require.NotErrorIs(t, err, ErrUnreachable)
			require.Contains(t, err.Error(), tt.message)
		})
	}
}

func TestValidateURLMessageDoesNotEchoInput(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{
		"https://" + strings.Repeat("x", 5000) + ".example/",
		"https://exa mple.com/" + strings.Repeat("y", 100),
		"https://user:hunter2@example.com/",
		"https://secret-host.internal/",
		"https://0x7f.0.0.1/secret-path",
	} {
		err := ValidateURL(raw, Policy{})
		require.Error(t, err)
		require.Less(t, len(err.Error()), 200)
		require.NotContains(t, err.Error(), "hunter2")
		require.NotContains(t, err.Error(), "secret")
		require.NotContains(t, err.Error(), "xxxx")
		require.NotContains(t, err.Error(), "yyyy")
	}
}

func TestParseIPv4(t *testing.T) {
	t.Parallel()
	tests := []struct {
		host string
		want string // "" when host is a name; "error" when it does not decode
	}{
		{"127.0.0.1", "127.0.0.1"},
		{"2130706433", "127.0.0.1"},
		{"0177.0.0.1", "127.0.0.1"},
		{"0x7f.0.0.1", "127.0.0.1"},
		{"0x7f.1", "127.0.0.1"},
		{"127.1", "127.0.0.1"},
		{"127.0.1", "127.0.0.1"},
		{"127.0.0.1.", "127.0.0.1"},
		{"0x", "0.0.0.0"},
		{"0", "0.0.0.0"},
		{"1.2.65535", "1.2.255.255"},
		{"1.16777215", "1.255.255.255"},
		{"4294967295", "255.255.255.255"},
		{"example.com", ""},
		{"1.2.3.com", ""},
		{"0x7g", ""},
		{"localhost", ""},
		{"4294967296", "error"},
		{"1.2.65536", "error"},
		{"256.1", "error"},
		{"1.2.3.4.5", "error"},
		{"08", "error"},
		{"1..1", "error"},
		{"a.1", "error"},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			t.Parallel()
			addr, ok, err := parseIPv4(tt.host)
			switch tt.want {
			case "error":
				require.Error(t, err)
			case "":
				require.NoError(t, err)
				require.False(t, ok)
			default:
				require.NoError(t, err)
				require.True(t, ok)
				require.Equal(t, netip.MustParseAddr(tt.want), addr)
			}
		})
	}
}
