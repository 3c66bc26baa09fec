package auth

import (
	"fmt"
	"slices"
	"strings"
)

// The scopes a key may hold. Every route of the API needs one of them or,
// for the workspace's own description, none beyond a valid key.
const (
	// ScopeRunsWrite creates and cancels runs and uploads assets.
	ScopeRunsWrite = "runs:write"
	// ScopeRunsRead gets, lists and streams runs, and lists and gets assets.
	ScopeRunsRead = "runs:read"
	// ScopeTechniquesRead lists and gets techniques.
	ScopeTechniquesRead = "techniques:read"
	// ScopeWebhooksManage lists webhook deliveries and redelivers them.
	ScopeWebhooksManage = "webhooks:manage"
)

// AllScopes is every scope, in the order the API lists them; a key made
// without --scopes holds them all.
func AllScopes() []string {
	return []string{ScopeRunsWrite, ScopeRunsRead, ScopeTechniquesRead, ScopeWebhooksManage}
}

// ParseScopes reads a comma- or space-separated scope list, refusing
// names the API does not know (a typo would otherwise make a key that
// silently cannot do what was meant) and an empty list.
func ParseScopes(s string) ([]string, error) {
	var out []string
	for _, name := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		if !slices.Contains(AllScopes(), name) {
			return nil, fmt.Errorf("unknown scope %q; the scopes are %s", name, strings.Join(AllScopes(), ", "))
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("give at least one scope of %s", strings.Join(AllScopes(), ", "))
	}
	return canonicalScopes(out), nil
}

// canonicalScopes orders scopes as AllScopes does.
func canonicalScopes(scopes []string) []string {
	out := []string{}
	for _, s := range AllScopes() {
		if slices.Contains(scopes, s) {
			out = append(out, s)
		}
	}
	return out
}

// clerkScopes maps a Clerk key's scopes to ours. Clerk lets the
// application name scopes freely: the ones spelled like ours count, others
// are ignored. A key made in Clerk without any scope holds all of ours,
// as a local key made without --scopes does.
func clerkScopes(scopes []string) []string {
	if len(scopes) == 0 {
		return AllScopes()
	}
	return canonicalScopes(scopes)
}

// Has reports whether the principal's key holds scope.
func (p *Principal) Has(scope string) bool { return slices.Contains(p.Scopes, scope) }
