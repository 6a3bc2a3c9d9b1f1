package sandbox

import (
	"bytes"
	"encoding/xml"
	"net"
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
		ih, ip, _ := net.SplitHostPort(c.IMAP)
		sh, sp, _ := net.SplitHostPort(c.SMTP)
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
		rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = rw.Write([]byte("mssante sandbox : autoconfig sur /mail/config-v1.1.xml?emailaddress=ADRESSE ; émulateur PSC sur " +
			w.PSC.URL + pscemu.RealmPath + "\n"))
	})
	return m
}

func xmlEscape(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
