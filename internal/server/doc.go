// Package server is the intermediate LPS server of mssante (ANS Référentiel #2, section 2.1.1.3 and
// Figure 2): it logs professionals in with Pro Santé Connect, keeps their tokens in memory (one
// psc.Holder per professional session) and hands the current access token to the thick clients of
// a session, which use it for SASL XOAUTH2 with the operator's API LPS. First version: no web
// application yet, a few French HTML pages only.
//
// Routes:
//
//	GET  /                                    login page (French), or the professional once logged in
//	GET  /auth/login                          redirect login: code + PKCE S256, state, nonce, acr eidas1
//	GET  /auth/callback                       PSC's redirect back; the session id is rotated on success
//	POST /auth/ciba/start                     {national_id, channel: MOBILE|CARD, client: "agent"?}
//	                                          → {handle?, binding_message, interval, expires_in}
//	GET|POST /auth/ciba/poll                  → {status: pending|ok|denied|expired|failed, session?, me?}
//	POST /auth/device/start                   thick client, browser login: → {handle, user_code,
//	                                          verification_url, interval, expires_in}
//	GET|POST /auth/device                     page where the professional types the user code,
//	                                          then logs in at PSC in the browser for the client
//	POST /auth/device/poll                    → {status: pending|ok|denied|failed, session?, me?}
//	POST /auth/logout                         ends the session here and at PSC
//	GET  /api/v1/me                           the professional (401 JSON without a session)
//	GET  /api/v1/mailboxes/{address}/token    {mailbox, access_token, token_type, expires_at}, no-store
//	GET  /api/v1/events                       text/event-stream: ready, token-renewed, session-ended
//
// Decisions:
//
//   - Sessions are server-side, in memory only (they lead to tokens, which never reach disk,
//     ECO.1.2.5); a restart logs everybody out. A session id is 256 random bits (base64url, 43
//     characters); the store keys sessions by the SHA-256 of the id, and logs show only a 4-byte
//     tag of that hash ("sid"). The id is rotated when a login completes (no session fixation).
//   - Browsers hold the id in a cookie: HttpOnly, SameSite=Lax, Path=/, no Max-Age; with
//     Options.Secure (TLS) it is Secure and named with the __Host- prefix.
//   - Thick clients hold it as a bearer "session handle" (Authorization: Bearer <handle>),
//     obtained by CIBA with client "agent", or by a browser login made for them (device.go: the
//     professional types the client's user code on /auth/device, RFC 8628 style): the start
//     answer carries a pre-login handle, the first "ok" poll answer the session handle that
//     replaces it. The client credential is this handle, never
//     a PSC token; only bearer sessions may fetch a token (a browser session gets 403: a PSC token
//     never reaches a browser).
//   - CSRF: Go's http.CrossOriginProtection on every route: a non-safe request that the browser
//     marks cross-site (Sec-Fetch-Site, or an Origin that is not the Host) is refused with 403;
//     requests without those headers are non-browser clients and pass. Together with SameSite=Lax
//     this replaces synchronizer tokens (no token to embed in pages, nothing to leak). GET routes
//     change no state, except GET /auth/ciba/poll, which can only complete the caller's own login.
//   - Expiry: a session ends after IdleTimeout without a request (default 30 min) and MaxLifetime
//     after its creation (default 12 h; also the Holder's MaxSession). Lookups check both; Run
//     sweeps every minute so that event streams learn of it. An open event stream does not count
//     as activity. Ending a session for expiry or logout logs out at PSC too (best effort).
//   - When the Holder ends (refresh refused, PSC logout, maximum lifetime) the session ends and
//     every event stream gets "session-ended" with the reason (ECO.1.2.6).
//   - Identity: the national id is the claim Options.NationalIDClaim (default SubjectNameID, from
//     userinfo or the ID token); a provider that gives none (a generic OIDC provider) falls back to
//     preferred_username, then sub, with a warning in the log. Mailboxes come from the userinfo
//     claims Options.MailboxClaims (default email, then mailboxes) until the Annuaire lookup is
//     wired. A login without a refresh token is logged: its session ends with the access token.
//     CIBA at a provider without a backchannel endpoint answers 501 ciba_unsupported.
//   - Logs (slog, JSON under serve) hold events and identities (national id), never tokens,
//     session ids, codes or auth_req_ids. The audit trail records logins and session ends.
//
// Call sequence:
//
//	client, err := psc.New(ctx, cfg)               // discovery
//	srv, err := server.New(server.Options{PSC: client, Secure: true, Logger: log})
//	go srv.Run(ctx, time.Minute)                   // expiry sweeper
//	http.Serve(ln, srv.Handler())
//	defer srv.Close()                              // ends every session
package server
