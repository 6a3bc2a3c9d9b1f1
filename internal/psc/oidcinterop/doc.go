// Package oidcinterop holds the interoperability test of internal/psc against Ory Hydra v2, an
// OpenID Connect provider we did not write: authorization code with PKCE, ID token verification,
// userinfo, refresh, refresh-token reuse detection and revocation. Hydra is a tool of the separate
// module in testdata/hydra (so that its dependencies stay out of mssante's go.mod); the test builds
// it with the sqlite tag (cgo) and runs it with an in-memory database on 127.0.0.1. It lives in its
// own package so that Hydra's build, long on a cold cache, has its own test timeout.
package oidcinterop
