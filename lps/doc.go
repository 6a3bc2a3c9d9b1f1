// Package lps opens sessions to the MSSanté operators' "API LPS" (ANS Référentiel #2, section 1):
// SMTP submission (RFC 5321 + STARTTLS RFC 3207, port 587) and IMAP mailbox access (RFC 3501/9051
// + STARTTLS, port 143). It is the only importer of go-smtp and go-imap; SASL is implemented here.
//
// Security rules, all enforced here and not configurable:
//   - STARTTLS is required; a server that does not offer it is refused with ErrNoSTARTTLS, never
//     used in plaintext (ECO.1.0.1, ECO.1.0.2). Bytes the server sends between its STARTTLS answer
//     and the handshake are refused (ErrProtocol), as is IMAP PREAUTH before TLS.
//   - The TLS configuration comes from the caller (Options.TLS, built by package trust): suites,
//     curves, IGC Santé anchors, revocation. This package never loads a trust store.
//   - Personal and organisational mailboxes authenticate with SASL XOAUTH2 and a Pro Santé Connect
//     token (AuthXOAUTH2, ECO.1.2.1); the token comes from a TokenSource at each authentication and
//     is not kept afterwards (ECO.1.2.5). An error challenge (JSON) is answered with an empty
//     response and reported as an *AuthError with the server's status and scope.
//   - Applicative mailboxes present an ORG AUTH_CLI client certificate in the handshake and then
//     authenticate with SASL PLAIN, the mailbox address as login (AuthCertPlain, ECO.1.3.1).
//   - Options.Trace receives the dialogue with SASL exchanges as "***" and message bodies as
//     "… (N bytes)" (STYLE 8.4); Options.Recorder receives one Event per operation for the audit
//     trail, redacted in the same way.
//
// Every call takes a context, mapped onto connection deadlines (go-smtp has none); a cancelled
// call breaks its session, which is then reopened by the next call. Sessions closed by the server
// are reopened with exponential back-off while authentication succeeds (ECO.1.2.7); errors are
// typed (*SendError, *IMAPError, *AuthError, the Err… sentinels) and never panic (ECO.1.2.3).
//
// Usual sequence:
//
//	cfg := policy.ClientConfig(host, nil)                   // package trust
//	auth := lps.Auth{Method: lps.AuthXOAUTH2, Address: addr, Tokens: psc}
//	smtp, err := lps.DialSMTP(ctx, lps.Endpoint{Host: host, Port: 587}, auth, &lps.Options{TLS: cfg})
//	res, err := smtp.Submit(ctx, addr, rcpts, msg, &lps.DSN{})
//	imap, err := lps.DialIMAP(ctx, lps.Endpoint{Host: host, Port: 143}, auth, &lps.Options{TLS: cfg})
//	st, err := imap.Select(ctx, "INBOX")
//	uids, err := imap.Search(ctx, lps.Criteria{Unseen: true})
//	n, err := imap.FetchBody(ctx, uids[0], w)
//	err = imap.FetchBodies(ctx, uids, func(m *lps.FetchedMessage) error { _, err := io.Copy(w, m.Body); return err })
//
// FetchBodies asks many messages in one UID FETCH and hands each body to its function as it
// arrives from the connection, in bounded memory: a full sync is not bound by round trips.
//
// Submission sends MAIL and RCPT as one group when the server offers PIPELINING (RFC 2920), DATA
// after their replies (all or nothing), DSN parameters when it offers DSN (RFC 3461), and checks
// SIZE first. IMAP uses CONDSTORE when offered (MODSEQ in summaries, HIGHESTMODSEQ on select);
// Resync brings a mailbox up to date after a reconnection from a SyncState (CHANGEDSINCE and a
// UID SEARCH of the known UIDs, RFC 7162 section 6; a full flag listing without CONDSTORE).
//
// Not implemented: QRESYNC itself (SELECT (QRESYNC …), VANISHED), which go-imap v2 beta.8 cannot
// express, even when the server offers it; implicit TLS (ports 465/993), which the referential
// does not use.
package lps
