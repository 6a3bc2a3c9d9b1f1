// Package config is the one typed configuration of mssante: every knob of every command, read
// from four layers, the first that sets a value winning:
//
//  1. a flag given on the command line (--data-dir);
//  2. the environment (MSSANTE_DATA_DIR; an empty variable counts as unset);
//  3. the configuration file, TOML: --config FILE, else $MSSANTE_CONFIG, else
//     $XDG_CONFIG_HOME/mssante/config.toml (~/.config/mssante/config.toml) when it exists;
//  4. the default.
//
// Only cmd/mssante calls this package, and no other package reads the environment or the file:
// the commands pass narrow option structs down (trust.Options, message.Options…). Load validates
// once and returns every problem at once (*Error, wrapping ErrInvalid), each naming the key,
// where its value came from and, for the file, the line. An unknown key in the file is an error.
// Config.Source says where each value came from, for "mssante config show". Secrets (Secret)
// print as "(set)" whatever the formatting, and are never read from the file.
//
// Flags: Bind declares on a command's flag set the flags of the fields the command uses, with
// their historical names and defaults; Binding.Load builds the effective Config after parsing.
//
// # Keys
//
// TOML key, environment variable, flag, default; meaning.
//
//	data_dir                MSSANTE_DATA_DIR            --data-dir           $XDG_DATA_HOME/mssante
//	    directory of the store, caches (trust/, crl/), audit trail, annuaire index
//	db                      MSSANTE_DB                  --db                 sqlite:<data_dir>/mssante.db
//	    database URL: sqlite:PATH or postgres://… (internal/store); a password is hidden by show
//	patient_domain          MSSANTE_PATIENT_DOMAIN      --patient-domain     patient.mssante.fr
//	    mail domain of patient mailboxes: the ONE place for ins check/address, compose, inspect,
//	    mdn, patients address (it was read four ways before)
//	autoconfig_url          MSSANTE_AUTOCONFIG_URL      --autoconfig-url     https://autoconfig.<domain>
//	trust.profile           MSSANTE_PROFILE             --profile            production (or test)
//	trust.roots             MSSANTE_TRUST_ROOTS         --trust-root         (none)  RELAXATION: replaces the IGC Santé anchors
//	trust.skip_revocation   MSSANTE_SKIP_REVOCATION                          false   RELAXATION: no CRL/OCSP
//	trust.allow_relaxations MSSANTE_ALLOW_RELAXATIONS                        false
//	    accepts the relaxations set by the file or the environment (a flag is explicit by itself)
//	trust.crl_refresh       MSSANTE_CRL_REFRESH                              0 (download at each run)
//	mail.account            MSSANTE_ACCOUNT             --account            mailbox address of a mail command
//	mail.token_file         MSSANTE_TOKEN_FILE          --token-file         PSC access token file (XOAUTH2)
//	mail.cert, mail.key     MSSANTE_CERT, MSSANTE_KEY   --cert, --key        ORG AUTH_CLI certificate and key
//	mail.server_name        MSSANTE_SERVER_NAME         --server-name        name the server certificate carries
//	message.nil             MSSANTE_NIL                 --nil                MSSANTE-OSS  (X-MSS-NIL: the software's name)
//	pdf.producer            MSSANTE_PDF_PRODUCER        --producer           mssante pdfa
//	pdf.n1_as_is            MSSANTE_N1_AS_IS            --n1-as-is           false  (no Ghostscript conversion of N1 PDFs)
//	pdf.source_date_epoch   SOURCE_DATE_EPOCH                                (now)  fixed PDF creation date
//	annuaire.source         MSSANTE_ANNUAIRE_SOURCE     --source             local (local, fhir, ldap, comma-separated)
//	annuaire.fhir.url       MSSANTE_FHIR_URL            --fhir-url           https://gateway.api.esante.gouv.fr/fhir/v2
//	annuaire.fhir.api_key_file MSSANTE_FHIR_API_KEY_FILE --fhir-api-key-file
//	annuaire.fhir.api_key   MSSANTE_FHIR_API_KEY        (env only, secret)
//	annuaire.ldap.url, base_dn, bind_dn, bind_password_file, filter, attributes
//	                        MSSANTE_LDAP_URL, _BASE_DN, _BIND_DN, _BIND_PASSWORD_FILE, _FILTER, _ATTRIBUTES
//	                        --ldap-url, --ldap-base-dn, --ldap-bind-dn, --ldap-bind-password-file, --ldap-filter, --ldap-attr
//	annuaire.ldap.bind_password MSSANTE_LDAP_BIND_PASSWORD (env only, secret)
//	server.listen           MSSANTE_LISTEN              --listen             127.0.0.1:8080
//	server.tls_cert, tls_key MSSANTE_TLS_CERT, _KEY     --tls-cert, --tls-key
//	server.public_url       MSSANTE_PUBLIC_URL          --public-url
//	server.log_level        MSSANTE_LOG_LEVEL           --log-level          info
//	server.idle_timeout     MSSANTE_IDLE_TIMEOUT        --idle-timeout       30m
//	server.max_session      MSSANTE_MAX_SESSION         --max-session        12h
//	psc.env                 MSSANTE_PSC                 --psc                bas (or production)
//	psc.issuer, discovery_url, client_id, client_secret_file, client_cert, client_key, scopes,
//	national_id_claim (SubjectNameID), mailbox_claims, any_acr (RELAXATION)
//	                        MSSANTE_PSC_ISSUER, _DISCOVERY_URL, _CLIENT_ID, _CLIENT_SECRET_FILE,
//	                        _CLIENT_CERT, _CLIENT_KEY, _SCOPES, _NATIONAL_ID_CLAIM, _MAILBOX_CLAIMS, _ANY_ACR
//	                        --psc-issuer … --psc-mailbox-claim, --psc-any-acr
//	login.server            MSSANTE_SERVER              --server             intermediate LPS server URL
//	login.national_id       MSSANTE_NATIONAL_ID         --national-id
//	login.channel           MSSANTE_CIBA_CHANNEL        --channel            MOBILE (or CARD)
//	login.server_ca         MSSANTE_SERVER_CA           --ca-file
//	login.runtime_dir       MSSANTE_RUNTIME_DIR         --runtime-dir        $XDG_RUNTIME_DIR/mssante
//	audit.retention         MSSANTE_AUDIT_RETENTION                          4392h (183 days, ECO.4.1.1)
//	sandbox.dir             MSSANTE_SANDBOX_DIR         --data-dir (sandbox commands; serve: --sandbox-dir)  <data_dir>/sandbox
//
// The file alone holds the [[account]] tables, the mailboxes of a gateway (address, family,
// token_file or cert and key, imap, smtp, autoconfig_url, server_name). Config.MailAccount
// joins them with mail.*: --account names the table, whose credentials apply unless mail.*
// sets others.
//
// Not configuration: XDG_DATA_HOME, XDG_CONFIG_HOME, XDG_RUNTIME_DIR and HOME only locate the
// defaults; MSSANTE_CONFIG names the file. The test harness's variables (MSSANTE_REQUIRE_PEERS,
// MSSANTE_REQUIRE_SHARED, MSSANTE_SHARED, MSSANTE_TEST_POSTGRES, MSSANTE_HYDRA, PEERTEST_KEEP)
// are read by internal/testkit and the tests, never by the product.
//
// # Example file
//
//	data_dir = "/var/lib/mssante"
//	db = "postgres://mssante@db.example/mssante"
//	patient_domain = "patient.mssante.fr"
//
//	[trust]
//	profile = "test"
//	crl_refresh = "1h"
//
//	[[account]]
//	address = "secretariat@hopital.test.mssante.fr"
//	family = "applicative"
//	cert = "/etc/mssante/secretariat.pem"
//	key = "/etc/mssante/secretariat.key"
package config
