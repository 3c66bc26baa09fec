// Package techniques embeds the built-in technique definitions, so the
// binary carries its catalog. See docs/techniques.md for the format.
package techniques

import "embed"

// FS holds every *.yaml file of this folder.
//
//go:embed *.yaml
var FS embed.FS
