// Package netguard makes outbound HTTP to user-supplied URLs safe from
// server-side request forgery (SSRF).
//
// florad fetches image and video URLs that API users send, and later POSTs
// webhooks to callback URLs they register. Both let a stranger choose where
// our server connects, so both go through two independent checks:
//
//   - ValidateURL runs when the URL is accepted (request time). It refuses
//     wrong schemes, credentials in the URL, local host names and literal IP
//     addresses in private or reserved networks, however they are spelled,
//     and returns a message fit for an API user.
//   - NewClient builds an *http.Client whose dialer refuses, at connect time
//     and after DNS resolution, every address the Policy does not allow. A
//     host name that resolves to 127.0.0.1 or 169.254.169.254 (or is rebound
//     to it between validation and delivery) therefore fails too.
//
// Fetch and FetchToFile download a body through such a client with a size
// limit and content sniffing, and classify failures with ErrUnreachable,
// ErrTooLarge and ErrInvalidContent so that callers can tell the user what
// went wrong without ever repeating what the remote server sent.
package netguard
