// Package trust is the TLS client policy of mssante for the operators' API LPS (SMTP submission
// and IMAP), after the ANS "Référentiel #2 – Clients de messageries MSSanté", section 1.1.
// It returns *tls.Config values and runs handshakes on connections the caller opened (after
// STARTTLS); it never dials.
//
// Usual sequence:
//
//	policy, err := trust.New(trust.Options{
//		Profile:     trust.ProfileProduction,        // or ProfileTest
//		AnchorsDir:  filepath.Join(dataDir, "trust"), // filled by `mssante trust update`
//		CRLCacheDir: filepath.Join(dataDir, "crl"),
//		Logger:      logger,
//	})
//	tlsConn, err := policy.Handshake(ctx, conn, "smtp.operateur.mssante.fr", clientCert)
//	var refusal *trust.RefusalError
//	if errors.As(err, &refusal) { … refusal.Rule names the requirement … }
//
// # Decisions
//
// Versions (ECO.1.1.1, ECO.1.1.2): TLS 1.2 minimum, always. TLS 1.3 is allowed and is the
// default maximum: the referential permits versions above 1.2, TLS 1.3 has only AEAD suites with
// ephemeral (EC)DHE key exchange, so it meets the intent of ECO.1.1.3 by construction, and Go picks
// it when the server offers it. Options.MaxVersion = tls.VersionTLS12 pins TLS 1.2 for an operator
// whose TLS 1.3 misbehaves.
//
// TLS 1.2 suites (ECO.1.1.3): the referential lists C030, C02F, C028, C027, 009F, 009E. Go's
// crypto/tls implements C030 (ECDHE-RSA-AES256-GCM-SHA384), C02F (ECDHE-RSA-AES128-GCM-SHA256)
// and C027 (ECDHE-RSA-AES128-SHA256) only: C028 (ECDHE-RSA-AES256-SHA384) and the DHE suites 009E
// and 009F do not exist in it. The client offers exactly those three (Suites). A server offering
// only the others answers with a handshake_failure alert, which is reported as a RefusalError
// wrapping ErrNoCommonSuite, whose text says so. All three are ECDHE-RSA: a TLS 1.2 server needs an
// RSA certificate (IGC Santé server certificates are RSA); ECDSA servers work in TLS 1.3 only.
//
// Key exchange (ECO.1.1.3, "ECDHE ≥ 256 bits"): X25519, P-256 and P-384 (Curves). X25519 has a
// 256-bit key and the strength of P-256; there is no finite-field DHE in Go, so a "DHE with a
// 1024-bit group" server is refused as having no common suite. The post-quantum hybrid
// X25519MLKEM768 is not offered, to keep the offer exactly the documented one.
//
// Trust (ECO.1.1.10): never the system pool. The anchors are the IGC Santé ELEMENTAIRE root and
// its ORGANISATIONS intermediate, identified by their SHA-256 fingerprints (Pins), for the
// production or the TEST profile. The certificates are loaded from Options.AnchorsDir, which
// `mssante trust update` fills from the ANS publication point (PKCS #7 bundle over HTTP: integrity
// comes from the pins) or from a file or folder the administrator names. The issuing intermediate
// of the server certificate must be the pinned ORGANISATIONS one: a server certificate of the
// PERSONNES, STANDARD or FORT ranges is refused. The pinned intermediate is also an anchor, so a
// server that omits it from its chain still verifies (its own revocation is then not checked);
// the chain through the root is preferred when the server sends it. Go's crypto/tls verifies the
// chain, validity and server name (of the config actually used, so a clone of ClientConfig("")
// whose ServerName is set later is checked against it); VerifyConnection then applies the
// ORGANISATIONS, suite and revocation rules. Options.ExtraRoots (the CLI's --trust-root)
// replaces the anchors for test environments, logged at Info as a relaxation; the issuing
// intermediate is then checked against Options.OrgIntermediates when given, and is free otherwise.
// Server name, key usage (server authentication) and validity at Options.Now (ECO.1.1.5) are
// checked as usual.
//
// Revocation (ECO.1.1.6, ECO.1.1.7): every certificate of the verified chain below the anchor is
// checked. CRLs first: each HTTP distribution point is downloaded (bounded size), its issuer,
// signature, thisUpdate and nextUpdate checked, and the last valid CRL kept in memory and in
// Options.CRLCacheDir. A cached CRL is reused without download for Options.CRLRefresh (1 h), and
// used when a download fails until its nextUpdate (the CLI sets it to download at each run). The
// OCSP responder (AIA), when the certificate names one, is asked too, even after the CRL said "not
// revoked" (it is fresher: a certificate it says revoked is refused); the answer must be signed by
// the issuer or a delegated OCSP signer, be for this certificate, and be fresh (thisUpdate not in
// the future, before nextUpdate). A responder that cannot be reached leaves the CRL's status. CRLs
// first because their cache keeps connections up through an outage of the publication point, as
// ECO.1.1.7 wants, and the IGC Santé CA certificates carry CRL distribution points only. When
// neither gives a status the connection is refused (fail closed). The certificates of the chain,
// and the CRL and the OCSP responder of each, are asked at the same time: a handshake waits for the
// slowest answer, not for the sum of the four (the refusal reported is still the one nearest the
// leaf). Options.SkipRevocation is a logged relaxation.
//
// Refusals: every refusal is a *RefusalError whose Rule starts with the ECO id (RuleRevokedCRL is
// "ECO.1.1.6 revoked (CRL)"), so that the message shown says which rule refused the server.
//
// The autoconfig host (ECO.1.1.9) is not an API LPS endpoint: AutoconfigHTTPClient trusts the
// system roots plus the IGC Santé anchors.
package trust
