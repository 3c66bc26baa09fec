package netguard

import (
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// ValidateURL checks a user-supplied URL when it is accepted, before it is
// stored or fetched. The returned error matches ErrInvalidURL, and also
// ErrBlocked when the destination itself is refused; its message is a short
// sentence for the API user and never repeats the input.
//
// Rules: the URL is absolute with scheme https (http too when Policy.Dev or
// Policy.AllowHTTP), has a host, no user name or password and a valid port
// (one of Policy.Ports when set). The host must not be a local name
// (localhost, *.localhost, *.local, *.internal, *.localdomain, *.home.arpa)
// unless Policy.Dev, and never a cloud metadata name (metadata,
// metadata.google.internal, ...: metadataNames). A literal IP address, in any spelling
// resolvers accept (2130706433, 0177.0.0.1, 0x7f.1, [::ffff:7f00:1], ...),
// must be allowed by the Policy exactly as NewClient's guard would allow it
// at connect time; IPv4 addresses in a notation other than plain dotted
// decimal and IPv6 zone identifiers are refused outright, since no real
// service is addressed that way. Host names pass: what they resolve to is
// checked when connecting, which also defeats DNS rebinding.
//
// Host names must be ASCII: internationalised names are accepted in their
// punycode (xn--) form only, because Unicode hosts are mapped by IDNA
// (fullwidth "ｌｏｃａｌｈｏｓｔ" becomes "localhost") after this check.
func ValidateURL(raw string, p Policy) error {
	return validateURL(raw, p, newGuard(p))
}

// validateURL is ValidateURL with a prebuilt guard, so that a client checks
// redirect targets without rebuilding it for every hop.
func validateURL(raw string, p Policy, g *guard) error {
	if raw == "" {
		return invalid("the URL is empty")
	}
	if maxLen := p.maxURLLength(); len(raw) > maxLen {
		return invalid(fmt.Sprintf("the URL is longer than %d characters", maxLen))
	}
	u, err := url.Parse(raw)
	if err != nil {
		// The *url.Error quotes the whole input; say less.
		return invalid("the URL is not valid")
	}
	switch {
	case !u.IsAbs():
		return invalid("the URL must be absolute, starting with https://")
	case u.Scheme == "https":
	case u.Scheme == "http" && p.httpAllowed():
	case p.httpAllowed():
		return invalid("the URL scheme must be http or https")
	default:
		return invalid("the URL scheme must be https" + DevHint)
	}
	if u.Opaque != "" || u.Host == "" {
		return invalid("the URL must include a host name")
	}
	if u.User != nil {
		return invalid("the URL must not contain a user name or password")
	}

	port, err := urlPort(u)
	if err != nil {
		return err
	}
	if len(p.Ports) > 0 && !containsPort(p.Ports, port) {
		return blocked("the URL port is not allowed")
	}
	return checkHost(u.Hostname(), port, p, g)
}

// urlPort returns the URL's explicit port or the scheme's default one.
func urlPort(u *url.URL) (uint16, error) {
	s := u.Port()
	if s == "" {
		if u.Scheme == "http" {
			return 80, nil
		}
		return 443, nil
	}
	// url.Parse only checks that the port is digits; 0 and 99999 get here.
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 {
		return 0, invalid("the URL port is not valid")
	}
	return uint16(n), nil
}

func containsPort(ports []uint16, port uint16) bool {
	for _, p := range ports {
		if p == port {
			return true
		}
	}
	return false
}

// checkHost applies the host rules of ValidateURL to a bracket-less host.
func checkHost(host string, port uint16, p Policy, g *guard) error {
	if host == "" {
		return invalid("the URL must include a host name")
	}
	for i := 0; i < len(host); i++ {
		if c := host[i]; c >= 0x80 || c <= ' ' || c == 0x7f {
			return invalid("the URL host must be plain ASCII; write internationalised domain names in their punycode (xn--) form")
		}
	}
	host = strings.ToLower(host)

	// IPv6 literal: only they contain a colon once the port is gone.
	if strings.Contains(host, ":") {
		addr, err := netip.ParseAddr(host)
		if err != nil {
			return invalid("the URL host is not a valid IP address")
		}
		if addr.Zone() != "" {
			return blocked("the URL host must not contain an IPv6 zone identifier")
		}
		return checkLiteral(addr, port, p.Dev, g)
	}

	addr, isIP, err := parseIPv4(host)
	if err != nil {
		return err
	}
	if isIP {
		if err := checkLiteral(addr, port, p.Dev, g); err != nil {
			return err
		}
		if canonical, err := netip.ParseAddr(host); err != nil || canonical != addr {
			// 2130706433, 0x7f.1 and friends: browsers and inet_aton decode
			// them, Go's resolver sends them to DNS. Nobody hosts images that
			// way, so refuse rather than depend on which resolver runs.
			return invalid("the URL host is an IP address in a non-standard notation; write it as four decimal numbers like 203.0.113.7")
		}
		return nil
	}

	return checkName(host, p)
}

// checkLiteral refuses a literal address the guard would refuse at connect
// time, with a message about the URL rather than about a connection.
func checkLiteral(addr netip.Addr, port uint16, dev bool, g *guard) error {
	if isMetadata(addr) {
		return blocked("the URL host is a cloud metadata service address, which is not allowed")
	}
	if err := g.check(netip.AddrPortFrom(addr, port)); err != nil {
		msg := "the URL host is an IP address in a private, loopback, link-local or otherwise reserved network, which is not allowed"
		if !dev {
			msg += DevHint
		}
		return blocked(msg)
	}
	return nil
}

// checkName refuses host names that by definition are not on the public
// internet. They would mostly be caught at connect time too, but refusing
// them here gives the user an immediate, clear answer, and covers names that
// resolve through a private resolver to addresses someone allowed.
func checkName(host string, p Policy) error {
	// A single trailing dot makes the name fully qualified; it is the same
	// host ("localhost." is localhost).
	name := strings.TrimSuffix(host, ".")
	if name == "" || strings.HasSuffix(name, ".") {
		return invalid("the URL host is not a valid host name")
	}
	for _, m := range metadataNames() {
		if name == m {
			// Cloud metadata services hand out credentials; not even in Dev.
			return blocked("the URL host is a cloud metadata service, which is not allowed")
		}
	}
	if p.Dev {
		return nil
	}
	if name == "localhost" || name == "localhost.localdomain" {
		return blocked("the URL host is a local name, which is not allowed" + DevHint)
	}
	for _, suffix := range []string{".localhost", ".local", ".internal", ".localdomain", ".home.arpa"} {
		if strings.HasSuffix(name, suffix) {
			return blocked("the URL host is a local or internal name, which is not allowed" + DevHint)
		}
	}
	return nil
}

// parseIPv4 decodes host the way the WHATWG URL standard (and so browsers)
// and inet_aton do: up to four dot-separated parts, each decimal, octal
// (leading 0) or hexadecimal (leading 0x), the last part filling the
// remaining bytes, so 127.1, 0x7f000001 and 017700000001 all mean
// 127.0.0.1. ok is false when host is a name, which is the case when its last
// label is not a number; a host that looks numeric but does not decode is an
// error.
func parseIPv4(host string) (addr netip.Addr, ok bool, err error) {
	parts := strings.Split(host, ".")
	if len(parts) > 1 && parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1] // one trailing dot is allowed
	}
	if !looksNumeric(parts[len(parts)-1]) {
		return netip.Addr{}, false, nil
	}
	bad := invalid("the URL host is not a valid IP address")
	if len(parts) > 4 {
		return netip.Addr{}, false, bad
	}
	nums := make([]uint64, len(parts))
	for i, part := range parts {
		n, err := parseIPv4Part(part)
		if err != nil {
			return netip.Addr{}, false, bad
		}
		nums[i] = n
	}
	var v uint64
	for _, n := range nums[:len(nums)-1] {
		if n > 255 {
			return netip.Addr{}, false, bad
		}
		v = v<<8 | n
	}
	rest := 8 * uint(5-len(nums)) // bits left for the last part
	last := nums[len(nums)-1]
	if last >= 1<<rest {
		return netip.Addr{}, false, bad
	}
	v = v<<rest | last
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true, nil
}

// looksNumeric is the WHATWG "ends in a number" test for one label.
func looksNumeric(label string) bool {
	if label == "" {
		return false
	}
	if strings.HasPrefix(label, "0x") {
		for _, c := range label[2:] {
			if !isHex(c) {
				return false
			}
		}
		return true
	}
	for _, c := range label {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func isHex(c rune) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')
}

// parseIPv4Part parses one part of a numeric host. Values are capped well
// above 2^32 so that a long run of digits cannot overflow into a small,
// valid-looking number.
func parseIPv4Part(part string) (uint64, error) {
	base := 10
	switch {
	case strings.HasPrefix(part, "0x"):
		base, part = 16, part[2:]
		if part == "" {
			return 0, nil // "0x" alone is zero, as in browsers
		}
	case len(part) > 1 && part[0] == '0':
		base, part = 8, part[1:]
	}
	if part == "" {
		return 0, strconv.ErrSyntax
	}
	n, err := strconv.ParseUint(part, base, 64)
	if err != nil || n > 1<<32 {
		return 0, strconv.ErrRange
	}
	return n, nil
}

// invalid returns a ValidateURL error for a malformed or disallowed URL.
// DevHint ends a refusal that development mode would lift, so a user
// trying florad on one machine learns how to allow local URLs.
const DevHint = "; florad --dev (FLORA_DEV=1) allows local URLs, or upload the file as an asset"

func invalid(msg string) error { return newError(msg, nil, ErrInvalidURL) }

// blocked returns a ValidateURL error for a destination the policy refuses.
func blocked(msg string) error { return newError(msg, nil, ErrInvalidURL, ErrBlocked) }
