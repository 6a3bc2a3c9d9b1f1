// Package psc is the Pro Santé Connect (PSC) client of mssante: discovery, authorization code flow
// with PKCE, ID token verification, userinfo, refresh, CIBA in poll mode and logout, plus the
// in-memory token Holder of one professional session (ECO.1.2.5, ECO.1.2.6, ECO.1.2.7).
//
// PSC is a Keycloak realm ("esante-wallet") that serves its discovery document at a non-standard
// name, <issuer>/.well-known/wallet-openid-configuration. Config carries the issuer and the
// discovery URL separately; Production and BAS (the sandbox) are presets.
//
// Usual sequence for a redirect login (the HTTP server keeps the AuthRequest in its session):
//
//	c, err := psc.New(ctx, cfg)                    // fetches the discovery document
//	req, err := c.AuthCodeURL()                    // PKCE S256, state, nonce, acr_values=eidas1
//	// redirect the browser to req.URL; on the callback:
//	tok, err := c.Exchange(ctx, req, code, state)  // checks state, verifies the ID token
//	h := psc.NewHolder(tok, c, nil)                // one per professional session
//	go h.Run(ctx)                                  // refreshes ahead of expiry
//	auth := lps.Auth{Method: lps.AuthXOAUTH2, Address: addr, Tokens: h}
//
// and for CIBA (the professional approves on the e-CPS app or with the CPS card):
//
//	a, err := c.StartCIBA(ctx, psc.CIBARequest{LoginHint: rpps, Channel: psc.ChannelMobile})
//	// show a.BindingMessage (two digits) to the professional
//	tok, err := c.PollCIBA(ctx, a)                 // honours interval and slow_down
//
// For the intermediate server (thick clients, ECO.1.2.1 Figure 2): Holder.Token gives the current
// access token on demand, Holder.Subscribe the events to relay, whose JSON form is
// {"kind":"token-renewed","time":…,"expiry":…} and {"kind":"session-ended","time":…,"reason":
// "refresh-refused"|"expired"|"logout"|"closed"}. Holder.Register takes the lps sessions to close
// at the end; Holder.Context gives a context that ends with the session, for long calls.
//
// Other providers than PSC (QA of issue 4 with Ory Hydra): with no DiscoveryURL, a 404 at PSC's
// name falls back to the standard /.well-known/openid-configuration; ScopesFromDiscovery chooses
// the scopes from the provider's scopes_supported (offline_access for a refresh token, scope_all
// only when listed); AnyACR accepts an ID token whatever acr it reports (Hydra says "0" unless the
// login application sets it); StartCIBA returns ErrCIBAUnsupported when the discovery document has
// no backchannel endpoint. PSC itself keeps the strict defaults.
//
// Secrets: the client secret is given by the caller (read from a file or the environment by
// cmd/mssante) and only ever sent in the Authorization header. Tokens are kept as []byte, zeroed by
// Tokens.Zero and by the Holder when it releases them; Go strings cannot be zeroed, so the copies
// that net/http and the SASL exchange need are short-lived and unavoidable. No type of this package
// prints a token: Tokens and Holder implement fmt.Formatter and slog.LogValuer with redacted
// output, and errors carry only the OAuth error code and description, never a token or a response
// body that could hold one.
package psc
