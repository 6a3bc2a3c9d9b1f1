// Package pscemu is a Pro Santé Connect emulator for the sandbox and the tests: an OpenID Connect
// provider that behaves like the PSC Keycloak realm "esante-wallet" as far as mssante can see it.
//
//   - discovery at the PSC name, /auth/realms/esante-wallet/.well-known/wallet-openid-configuration
//     (and at the standard openid-configuration name for generic tools);
//   - authorization code flow with PKCE (S256 required) and a plain HTML login page listing the
//     test professionals (national id, name, mailboxes): a click logs in;
//   - CIBA in poll mode (login_hint, binding_message, channel=CARD|MOBILE, acr_values), with
//     authorization_pending, slow_down (+5 s), expired_token and access_denied; a pending request is
//     approved or denied with Server.Approve / Server.Deny or on the sandbox page /sandbox/ciba;
//   - RS256 JWT access tokens signed by a key published at the JWKS endpoint, with the PSC claims
//     (SubjectNameID, preferred_username = national id, acr eidas1, azp, sid) and "email", the
//     mailbox that an operator such as Dovecot's oauth2 passdb (username_attribute = email)
//     compares with the SASL user;
//   - rotating refresh tokens with an idle lifetime and a maximum session lifetime, short by default
//     like PSC (access 120 s, refresh 350 s, session 1 h); logout (end_session), revocation and
//     Server.EndSessions kill the session so that the next refresh is refused;
//   - userinfo and token introspection (active, and SubjectNameID for access tokens only, as PSC).
//
// Why not zitadel/oidc's op package: op has no CIBA grant and no way to serve the discovery
// document at PSC's non-standard name without wrapping its router, and its Storage interface (about
// thirty methods) is larger than this whole provider. The protocol-sensitive parts come from
// maintained libraries instead: go-jose signs and publishes the keys, and the mssante client under
// test (go-oidc, x/oauth2) is also checked against an independent provider, Ory Hydra, in
// internal/psc/oidcinterop.
//
// It is a test tool: state is in memory, client authentication is a single registered client
// (client_secret_basic, client_secret_post or a TLS client certificate), and the login page trusts
// whoever clicks. Never expose it beyond the sandbox.
package pscemu
