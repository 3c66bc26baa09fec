package netguard

import (
	"go/ast"
	"go/parser"
	"go/token"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
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
		{"link-local metadata", "https://169.254.169.254/latest/meta-data/", Policy{}, true, "metadata"},
		{"CGNAT", "https://100.64.0.1/", Policy{}, true, "reserved network"},
		{"unspecified", "https://0.0.0.0/", Policy{}, true, "reserved network"},
		{"this network", "https://0.1.2.3/", Policy{}, true, "reserved network"},
		{"multicast", "https://224.0.0.1/", Policy{}, true, "reserved network"},
		{"broadcast", "https://255.255.255.255/", Policy{}, true, "reserved network"},
		{"documentation", "https://192.0.2.1/", Policy{}, true, "reserved network"},
		{"benchmarking", "https://198.18.0.1/", Policy{}, true, "reserved network"},
		{"decimal", "https://2130706433/", Policy{}, true, "reserved network"},
		{"decimal metadata", "https://2852039166/", Policy{}, true, "metadata"},
		{"decimal private", "https://3232235521/", Policy{}, true, "reserved network"},
		{"octal", "https://0177.0.0.1/", Policy{}, true, "reserved network"},
		{"octal whole", "https://017700000001/", Policy{}, true, "reserved network"},
		{"hex", "https://0x7f.0.0.1/", Policy{}, true, "reserved network"},
		{"hex upper case", "https://0X7F.0.0.1/", Policy{}, true, "reserved network"},
		{"hex whole", "https://0x7f000001/", Policy{}, true, "reserved network"},
		{"hex metadata", "https://0xa9fea9fe/", Policy{}, true, "metadata"},
		{"short form", "https://127.1/", Policy{}, true, "reserved network"},
		{"three parts", "https://127.0.1/", Policy{}, true, "reserved network"},
		{"mixed radix", "https://0x7f.0.01/", Policy{}, true, "reserved network"},
		{"leading zeros", "https://127.000.000.001/", Policy{}, true, "reserved network"},
		{"trailing dot IP", "https://127.0.0.1./", Policy{}, true, "reserved network"},
		{"IPv6 loopback", "https://[::1]/", Policy{}, true, "reserved network"},
		{"IPv6 unspecified", "https://[::]/", Policy{}, true, "reserved network"},
		{"IPv4-mapped", "https://[::ffff:127.0.0.1]/", Policy{}, true, "reserved network"},
		{"IPv4-mapped hex", "https://[::ffff:7f00:1]/", Policy{}, true, "reserved network"},
		{"IPv4-mapped metadata", "https://[::ffff:169.254.169.254]/", Policy{}, true, "metadata"},
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

		{"dev link-local metadata", "http://169.254.169.254/", dev, true, "metadata"},
		{"dev Alibaba metadata", "http://100.100.100.200/latest/meta-data/", dev, true, "metadata"},
		{"dev Alibaba metadata, decimal", "http://1684301000/", dev, true, "metadata"},
		{"dev Alibaba metadata, hex", "http://0x646464c8/", dev, true, "metadata"},
		{"dev Alibaba metadata, mapped", "http://[::ffff:100.100.100.200]/", dev, true, "metadata"},
		{"dev Alibaba metadata, mapped hex", "http://[::ffff:6464:64c8]/", dev, true, "metadata"},
		{"dev AWS IPv6 metadata", "http://[fd00:ec2::254]/latest/meta-data/", dev, true, "metadata"},
		{"dev AWS IPv6 metadata, long form", "http://[FD00:0EC2:0000:0000:0000:0000:0000:0254]/", dev, true, "metadata"},
		{"dev AWS IPv6 metadata, port", "http://[fd00:ec2::254]:80/", dev, true, "metadata"},
		{"dev AWS EKS pod identity", "http://[fd00:ec2::23]/", dev, true, "metadata"},
		{"dev ECS credentials", "http://169.254.170.2/v2/credentials", dev, true, "metadata"},
		{"dev Oracle metadata", "http://192.0.0.192/", dev, true, "metadata"},
		{"dev NAT64 metadata", "http://[64:ff9b::a9fe:a9fe]/", dev, true, "metadata"},
		{"dev 6to4 metadata", "http://[2002:a9fe:a9fe::1]/", dev, true, "metadata"},
		{"dev metadata by AWS name", "http://instance-data.ec2.internal/", dev, true, "metadata"},
		{"dev metadata by AWS short name", "http://instance-data/", dev, true, "metadata"},
		{"dev metadata name upper case dot", "http://METADATA.GOOGLE.INTERNAL./", dev, true, "metadata"},
		{"allowed prefix does not open metadata", "https://100.100.100.200/", Policy{AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("100.64.0.0/10")}}, true, "metadata"},
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

// packageSentence returns a check that a message is one of the string
// literals of this package's sources, numbers and %d verbs masked:
// ValidateURL's messages are built from constants and numbers only, so
// anything else would be the input showing through.
func packageSentence(t testing.TB) func(msg string) bool {
	t.Helper()
	numbers := regexp.MustCompile(`%d|[0-9]+`)
	fset := token.NewFileSet()
	known := map[string]bool{}
	for _, name := range []string{"validate.go", "policy.go", "metadata.go"} {
		file, err := parser.ParseFile(fset, name, nil, 0)
		require.NoError(t, err)
		ast.Inspect(file, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				s, err := strconv.Unquote(lit.Value)
				require.NoError(t, err)
				known[numbers.ReplaceAllString(s, "#")] = true
			}
			return true
		})
	}
	// A refusal --dev would lift ends with DevHint, a fixed sentence too.
	return func(msg string) bool {
		return known[numbers.ReplaceAllString(strings.TrimSuffix(msg, DevHint), "#")]
	}
}

// FuzzValidateURL checks ValidateURL against properties that do not reuse
// its own parsing: an accepted URL is https (http only where allowed), has
// no credentials, is not a local name outside Dev and never a metadata one,
// and an IP literal host is written in standard form and is public (outside
// Dev) and allowed by the connect-time guard too; a refused one gets an
// ErrInvalidURL whose message is a fixed sentence, never the input.
func FuzzValidateURL(f *testing.F) {
	for _, seed := range []string{
		"https://example.com/a.png", "HTTPS://EXAMPLE.COM./a.png?x=1#y", "https://example.com:8443/",
		"http://example.com/", "https://8.8.8.8/", "https://[2606:4700:4700::1111]/", "https://xn--bcher-kva.example/",
		"https://127.0.0.1.example.com/", "http://localhost:3000/", "https://localhost./", "https://printer.local/",
		"https://db.internal/", "https://metadata.google.internal/", "http://metadata/", "http://instance-data/",
		"https://127.0.0.1/", "https://2130706433/", "https://0177.0.0.1/", "https://0x7f.1/", "https://127.1/",
		"https://[::ffff:127.0.0.1]/", "https://[::ffff:7f00:1]/", "https://[::127.0.0.1]/", "https://[64:ff9b::7f00:1]/",
		"https://[2002:7f00:1::]/", "https://[fe80::1%25eth0]/", "https://[fd00:ec2::254]/", "http://100.100.100.200/",
		"https://169.254.169.254/latest/meta-data/", "https://0xa9fea9fe/", "http://[::ffff:6464:64c8]/",
		"https://user:pw@example.com/", "https://example.com:0/", "https://example.com:99999/", "//example.com/",
		"example.com", "ftp://example.com/", "https:///path", "https://exa mple.com/", "https://ｌｏｃａｌｈｏｓｔ/",
		"https://1.2.3.4.5/", "https://256.0.0.1/", "https://99999999999999999999/", "https://1..2/", "https://[fe80::zz]/",
		"https://0x/", "https://0/", "https://09.0.0.1/", "https://%31%32%37.0.0.1/", "https://127.0.0.1:443@evil/",
		"https://example.com\\@127.0.0.1/", "https:example.com", "https://[::1]:80/", "", "https://" + strings.Repeat("a", 2050),
	} {
		f.Add(seed)
	}
	isSentence := packageSentence(f)
	policies := []Policy{{}, {Dev: true}, loopbackOnly(), {Ports: []uint16{443}}}
	cgnat := netip.MustParsePrefix("100.64.0.0/10")

	f.Fuzz(func(t *testing.T, raw string) {
		for _, p := range policies {
			err := ValidateURL(raw, p)
			if err != nil {
				require.ErrorIs(t, err, ErrInvalidURL)
				require.True(t, isSentence(err.Error()), "message %q is not one of the package's sentences", err.Error())
				continue
			}
			u, perr := url.Parse(raw)
			require.NoError(t, perr)
			require.LessOrEqual(t, len(raw), p.maxURLLength())
			scheme := strings.ToLower(u.Scheme)
			require.True(t, scheme == "https" || (scheme == "http" && p.httpAllowed()), "scheme %q under %+v", scheme, p)
			require.Nil(t, u.User)
			host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
			require.NotEmpty(t, host)
			require.NotContains(t, metadataNames(), host)
			if !p.Dev {
				require.NotEqual(t, "localhost", host)
				for _, suffix := range []string{".localhost", ".local", ".internal"} {
					require.False(t, strings.HasSuffix(host, suffix), "host %q under %+v", host, p)
				}
			}
			// A host a browser would read as a number must be a plain
			// address: the last label all digits, or 0x and hex.
			labels := strings.Split(host, ".")
			last := labels[len(labels)-1]
			decimal := last != "" && strings.Trim(last, "0123456789") == ""
			hex := strings.HasPrefix(last, "0x") && strings.Trim(last[2:], "0123456789abcdef") == ""
			if decimal || hex {
				_, err := netip.ParseAddr(host)
				require.NoError(t, err, "numeric host %q accepted under %+v", host, p)
			}
			addr, err := netip.ParseAddr(host)
			if err != nil {
				continue
			}
			require.False(t, isMetadata(addr), "metadata address %s accepted under %+v", addr, p)
			port := uint16(443)
			if u.Port() != "" {
				n, err := strconv.ParseUint(u.Port(), 10, 16)
				require.NoError(t, err)
				port = uint16(n)
			} else if scheme == "http" {
				port = 80
			}
			require.NoError(t, newGuard(p).check(netip.AddrPortFrom(addr, port)), "the connect-time guard disagrees on %s", raw)
			if !p.Dev && len(p.AllowPrefixes) == 0 {
				a := addr.Unmap()
				require.True(t, a.IsGlobalUnicast() && !a.IsPrivate() && !a.IsLoopback() && !cgnat.Contains(a),
					"non-public address %s accepted under %+v", a, p)
			}
		}
	})
}

// TestDevHint checks that a refusal --dev would lift says so, and one it
// would not (a metadata address) does not.
func TestDevHint(t *testing.T) {
	for _, raw := range []string{"http://example.com/a.png", "https://127.0.0.1/a.png", "https://localhost/a.png",
		"https://printer.local/a.png"} {
		err := ValidateURL(raw, Policy{})
		require.ErrorContains(t, err, "--dev", raw)
		require.NoError(t, ValidateURL(raw, Policy{Dev: true}), raw)
	}
	require.NotContains(t, ValidateURL("https://169.254.169.254/", Policy{}).Error(), "--dev")
	require.NotContains(t, ValidateURL("https://metadata.google.internal/", Policy{}).Error(), "--dev")
}
