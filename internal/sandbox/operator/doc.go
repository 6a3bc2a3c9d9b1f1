// Package operator is the MSSanté operator of the sandbox: IMAP (go-imap v2 imapserver) and SMTP
// submission (go-smtp) on 127.0.0.1, both with STARTTLS, authenticating as the ANS referential
// describes (ECO.1.2.1 XOAUTH2 with a Pro Santé Connect token for personal and organisational
// mailboxes, ECO.1.3.1 client certificate + PLAIN for applicative ones), delivering between its
// local domains (professional, organisation, patient) with RFC 3461/3464 delivery reports and
// Mon espace santé's bounce for a closed patient mailbox, and keeping the mail in a data
// directory so that it survives a restart.
//
// It behaves like the Dovecot + Postfix pair of internal/peertest, so that the transport tests
// can run against either:
//   - TLS 1.2 or later with the referential's suites (trust.Suites); a client certificate is
//     requested, never required; no authentication before STARTTLS (IMAP LOGINDISABLED and
//     NO [PRIVACYREQUIRED], SMTP 530 5.7.0 and no AUTH offered);
//   - a refused login is IMAP NO [AUTHENTICATIONFAILED] or SMTP 535 5.7.8; a refused XOAUTH2
//     token first gets the JSON challenge {"status":"401","schemes":"bearer","scope":"mail"};
//   - the envelope sender must be the authenticated mailbox (or <>), refused at RCPT with
//     553 5.7.1 otherwise (reject_sender_login_mismatch), and so must the From field, refused at
//     the end of DATA with 550 5.7.1 (the operator's milter); an unknown recipient of the
//     professional or organisation domain is refused at RCPT with 550 5.1.1, an unknown or closed
//     patient address is accepted then bounced with Mon espace santé's "Message non distribué"
//     (5.1.1 or 5.2.1); a message over the patient limit (25 MB) to a patient mailbox is refused
//     with 552 5.3.4 at MAIL (SIZE) or DATA;
//   - a submitted message lacking Date or Message-ID gets them (as Postfix's cleanup); a
//     delivered message gets Return-Path, Delivered-To and Received; IDLE sessions see it.
//
// IMAP goes through a front (imap_front.go), a line layer between the client and go-imap's
// server that terminates STARTTLS, answers malformed commands with BAD as Dovecot does (go-imap
// v2 beta.8 hangs, answers NO [SERVERBUG] or drops the connection) and implements what go-imap
// has no hook for: ID (RFC 2971), CONDSTORE (RFC 7162, imap_condstore.go: a mod-sequence per
// message and a HIGHESTMODSEQ per folder kept in the index) and QUOTA (RFC 9208, imap_quota.go:
// Options.QuotaStorage per account). IMAP also offers SASL OAUTHBEARER (RFC 7628, oauthbearer.go),
// checked as XOAUTH2. imap_conformance_test.go runs the same raw dialogues against
// Dovecot and the sandbox.
//
// Mail is kept under DataDir/mail, one directory per folder with one file per message and an
// index (UIDVALIDITY, UIDNEXT, flags), all written atomically (store.go). Accounts come from
// Options.Accounts and Operator.AddAccount; Operator.Deliver, Append and Messages let the world
// seed and inspect mailboxes without a protocol session.
//
// SMTP goes through a front too (smtp_front.go): it terminates STARTTLS and passes the dialogue
// to go-smtp one command at a time, answering protocol errors with Postfix's codes (500 5.5.2 for
// an unknown command, 503 5.5.1 out of sequence, 530 5.7.0 before STARTTLS) where go-smtp has no
// hook; SMTPUTF8 is offered, lines of any length are accepted and folded at 998 on delivery as
// Postfix's LMTP client does, and reports keep their header and delivery-status fields ASCII.
// The raw dialogues of ../conformance_smtp_test.go run against Postfix and the sandbox.
//
// Usual sequence (the sandbox world wires the PKI and the PSC emulator):
//
//	op, err := operator.New(operator.Options{DataDir: dir, Certificate: srv.TLS,
//		ClientCAs: rootPool, ClientIntermediates: []*x509.Certificate{orgCA},
//		ValidateToken: psc.Validate, Accounts: accounts})
//	err = op.Start(ctx)
//	imapAddr, smtpAddr := op.IMAPAddr(), op.SMTPAddr()
//	defer op.Close()
package operator
