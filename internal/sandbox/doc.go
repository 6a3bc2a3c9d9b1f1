// Package sandbox runs a complete offline MSSanté world on loopback, for evaluation, development
// and tests (issue 5): what Mailpit is to SMTP, for MSSanté.
//
// Start brings up, in the process:
//
//   - the operator (package operator): IMAP and SMTP submission with STARTTLS, persistent
//     mailboxes, delivery, DSN, bounces, XOAUTH2 and client-certificate logins;
//   - a Pro Santé Connect emulator (internal/pscemu) whose access tokens the operator validates
//     locally with the emulator's public key (signature, issuer, expiry, type, client); its signing
//     key lives in memory only, so tokens die with the process;
//   - a TEST PKI in the shape of IGC Santé (root, ORGANISATIONS intermediate, server certificate
//     for 127.0.0.1, localhost and the sandbox host names, one ORG AUTH_CLI client certificate per
//     applicative mailbox with OU = organisation id), generated on the first start into
//     <data-dir>/pki, keys included (test keys, mode 0600), and reloaded afterwards;
//   - CRL and OCSP responders over HTTP (the certificates carry their URL, so its port is fixed by
//     the first start), revocations kept in <data-dir>/pki/revoked.json and shared with
//     `mssante sandbox revoke` run from another process;
//   - an HTTPS autoconfig endpoint serving /mail/config-v1.1.xml?emailaddress=… for each sandbox
//     domain with both entry families (OAuth2 and TLS-client-cert), the --autoconfig-url of the CLI;
//   - seed data written on the first start: two test professionals with a personal mailbox each and
//     organisational mailboxes, an applicative mailbox, three patients (two with a qualified INS
//     under the test OID 1.2.250.1.213.1.4.10, one of whom has a closed mailbox, one without INS),
//     a directory extraction file in the 31-column format, and mails with IHE XDM documents
//     submitted over SMTP by the applicative mailbox so that inboxes are not empty.
//
// Usual sequence:
//
//	w, err := sandbox.Start(ctx, sandbox.Options{DataDir: dir})
//	defer w.Close()
//	env := w.Env()                     // what `mssante sandbox env` prints
//	tok, err := sandbox.FetchToken(ctx, dir, "899700200016") // what `mssante sandbox token` prints
//
// <data-dir>/sandbox.json describes the world (addresses, domains, accounts, patients); the
// `sandbox env` and `sandbox token` commands read it. Everything here is fictitious and must
// never be exposed beyond loopback.
package sandbox
