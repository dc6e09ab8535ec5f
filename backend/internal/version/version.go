// Package version holds the build identity, set at link time with
// -ldflags "-X github.com/hcw-home/hcw/backend/internal/version.Version=...".
package version

// Name is the product name reported by the API and the WebSocket hello.
const Name = "HCW@Home"

// Version is the release version; "dev" for local builds.
var Version = "dev"

// Commit is the source revision; "unknown" for local builds.
var Commit = "unknown"
