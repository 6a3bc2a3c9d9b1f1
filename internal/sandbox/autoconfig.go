package sandbox

import (
	"bytes"
	"encoding/xml"
	htmltemplate "html/template"
	"net/http"
	"strings"
	"text/template"

	"github.com/mssante/mssante/internal/pscemu"
)

// The autoconfig endpoint serves, over HTTPS (server certificate of the test PKI), the Thunderbird
// ConfigFileFormat document of each sandbox domain at /mail/config-v1.1.xml?emailaddress=ADDR (and
// at /.well-known/autoconfig/mail/config-v1.1.xml), with both entry families: "OAuth2" (personal
// and organisational mailboxes, Pro Santé Connect) and "TLS-client-cert" (applicative mailboxes),
// IMAP and SMTP, STARTTLS only, like an MSSanté operator (ECO.1.1.9). Its base URL is the
// --autoconfig-url of the CLI. An address of another domain gets 404.

var autoconfigTmpl = template.Must(template.New("autoconfig").Parse(`<?xml version="1.0" encoding="UTF-8"?>
<clientConfig version="1.1">
  <emailProvider id="{{.Domain}}">
    <domain>{{.Domain}}</domain>
    <displayName>Opérateur MSSanté bac à sable (mssante sandbox)</displayName>
    <displayShortName>Bac à sable</displayShortName>
{{- range .Auths}}
    <incomingServer type="imap">
      <hostname>{{$.IMAPHost}}</hostname>
      <port>{{$.IMAPPort}}</port>
      <socketType>STARTTLS</socketType>
      <authentication>{{.}}</authentication>
      <username>%EMAILADDRESS%</username>
    </incomingServer>
{{- end}}
{{- range .Auths}}
    <outgoingServer type="smtp">
      <hostname>{{$.SMTPHost}}</hostname>
      <port>{{$.SMTPPort}}</port>
      <socketType>STARTTLS</socketType>
      <authentication>{{.}}</authentication>
      <username>%EMAILADDRESS%</username>
    </outgoingServer>
{{- end}}
    <documentation url="{{.PSC}}/sandbox/ciba">
      <descr lang="fr">Bac à sable MSSanté : identités et PKI de TEST uniquement</descr>
    </documentation>
  </emailProvider>
  <oAuth2>
    <issuer>{{.Issuer}}</issuer>
    <scope>openid scope_all</scope>
    <authURL>{{.PSC}}/wallet/auth</authURL>
    <tokenURL>{{.Issuer}}/protocol/openid-connect/token</tokenURL>
  </oAuth2>
</clientConfig>
`))

type autoconfigData struct {
	Domain, IMAPHost, IMAPPort, SMTPHost, SMTPPort, PSC, Issuer string
	Auths                                                       []string
}

func (w *World) autoconfigHandler() http.Handler {
	m := http.NewServeMux()
	serve := func(rw http.ResponseWriter, r *http.Request) {
		addr := strings.TrimSpace(r.URL.Query().Get("emailaddress"))
		at := strings.LastIndexByte(addr, '@')
		domain := strings.ToLower(addr[at+1:])
		c := w.Config
		if at <= 0 || (domain != c.ProDomain && domain != c.OrgDomain && domain != c.PatientDomain) {
			http.NotFound(rw, r)
			return
		}
		ih, ip := AutoconfigHost(c.IMAP)
		sh, sp := AutoconfigHost(c.SMTP)
		d := autoconfigData{Domain: xmlEscape(domain), IMAPHost: ih, IMAPPort: ip, SMTPHost: sh, SMTPPort: sp,
			PSC: w.PSC.URL, Issuer: xmlEscape(w.PSC.Issuer), Auths: []string{"OAuth2", "TLS-client-cert"}}
		var b bytes.Buffer
		if err := autoconfigTmpl.Execute(&b, d); err != nil {
			http.Error(rw, "erreur interne", http.StatusInternalServerError)
			return
		}
		rw.Header().Set("Content-Type", "application/xml; charset=utf-8")
		rw.Header().Set("Cache-Control", "no-cache")
		_, _ = rw.Write(b.Bytes())
	}
	m.HandleFunc("GET /mail/config-v1.1.xml", serve)
	m.HandleFunc("GET /.well-known/autoconfig/mail/config-v1.1.xml", serve)
	m.HandleFunc("GET /{$}", func(rw http.ResponseWriter, r *http.Request) {
		var b bytes.Buffer
		if err := indexPage.Execute(&b, map[string]any{"Env": w.Env(), "Realm": pscemu.RealmPath}); err != nil {
			http.Error(rw, "erreur interne", http.StatusInternalServerError)
			return
		}
		rw.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = rw.Write(b.Bytes())
	})
	return m
}

// indexPage is the sandbox's home page, in French: where things are and the test accounts.
var indexPage = htmltemplate.Must(htmltemplate.New("index").Parse(`<!DOCTYPE html>
<html lang="fr"><head><meta charset="utf-8"><title>Bac à sable MSSanté (mssante)</title></head>
<body><h1>Bac à sable MSSanté</h1>
<p><strong>Environnement de TEST</strong> : identités, patients, certificats et jetons fictifs.</p>
<ul>
<li>IMAP (STARTTLS) : {{.Env.IMAP}} — SMTP soumission (STARTTLS) : {{.Env.SMTP}}</li>
<li>Autoconfiguration : {{.Env.AutoconfigURL}}/mail/config-v1.1.xml?emailaddress=…</li>
<li>Racine de confiance de test (--trust-root) : {{.Env.TrustRoot}}</li>
<li>Émulateur Pro Santé Connect : <a href="{{.Env.PSC}}{{.Realm}}/.well-known/wallet-openid-configuration">découverte</a>,
<a href="{{.Env.PSC}}/sandbox/ciba">demandes CIBA en attente</a></li>
<li>CRL et OCSP : {{.Env.Revocation}}</li>
<li>Extraction de l'annuaire : {{.Env.Directory}}</li>
</ul>
<h2>Boîtes aux lettres</h2>
<table border="1" cellpadding="4"><tr><th>Adresse</th><th>Type</th><th>Identifiant</th><th>Authentification</th></tr>
{{range .Env.Accounts}}<tr><td>{{.Address}}</td><td>{{.Kind}}{{if .Closed}} (fermée){{end}}</td><td>{{.NationalID}}{{.OrgID}}</td>
<td>{{if eq .Kind "applicative"}}certificat {{.Cert}}{{else if eq .Kind "patient"}}—{{else}}mssante sandbox token --user {{.NationalID}}{{end}}</td></tr>
{{end}}</table>
<h2>Patients</h2>
<table border="1" cellpadding="4"><tr><th>Nom de naissance</th><th>Prénoms</th><th>Naissance</th><th>INS</th><th>Messagerie</th></tr>
{{range .Env.Patients}}<tr><td>{{.BirthName}}</td><td>{{.GivenNames}}</td><td>{{.BirthDate}}</td><td>{{if .INS}}{{.INS}}{{else}}sans INS qualifié{{end}}</td>
<td>{{.Mailbox}}{{if .Closed}} (fermée){{end}}</td></tr>
{{end}}</table>
</body></html>
`))

func xmlEscape(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
