package sandbox

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/mssante/mssante/lps"
	"github.com/mssante/mssante/message"
	"github.com/mssante/mssante/trust"
)

// seedMail is a mail of the first start, sent by the hospital's applicative mailbox.
type seedMail struct {
	to      []string
	subject string
	text    string
	cdas    [][]byte
}

func (w *World) seedMails() []seedMail {
	c := w.Config
	return []seedMail{
		{to: []string{"jeanne.essai@" + c.ProDomain},
			text: "Bonjour Docteur,\r\n\r\nVeuillez trouver ci-joint le compte rendu de biologie de M. CHÂTEAU.\r\n\r\nLe laboratoire du Centre hospitalier Sandbox",
			cdas: [][]byte{seedCRBiologie}},
		{to: []string{"cardiologie@" + c.OrgDomain},
			text: "Bonjour,\r\n\r\nCi-joint la lettre de liaison de sortie de Mme MARTIN-DUPRÉ.\r\n\r\nCentre hospitalier Sandbox",
			cdas: [][]byte{seedLettreLiaison}},
		{to: []string{"paul.fictif@" + c.ProDomain}, subject: "Bienvenue dans le bac à sable MSSanté",
			text: "Bonjour,\r\n\r\nCe message de test a été déposé par le bac à sable mssante. Les identités, les patients et les certificats sont fictifs.\r\n"},
	}
}

// deliverSeedMails submits the seed mails through the operator's SMTP submission, as the
// applicative mailbox (client certificate + PLAIN), with the client TLS policy of mssante: they
// travel the same way as any mail.
func (w *World) deliverSeedMails(ctx context.Context) error {
	var app *Account
	for i := range w.Config.Accounts {
		if w.Config.Accounts[i].Kind == "applicative" {
			app = &w.Config.Accounts[i]
			break
		}
	}
	if app == nil {
		return nil
	}
	cert, err := tls.LoadX509KeyPair(app.Cert, app.Key)
	if err != nil {
		return err
	}
	pol, err := trust.New(trust.Options{ExtraRoots: []*x509.Certificate{w.pki.root.cert},
		OrgIntermediates: []*x509.Certificate{w.pki.org.cert}})
	if err != nil {
		return err
	}
	host, port, _ := net.SplitHostPort(w.Config.SMTP)
	portN, _ := strconv.Atoi(port)
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	sc, err := lps.DialSMTP(ctx, lps.Endpoint{Host: host, Port: portN},
		lps.Auth{Method: lps.AuthCertPlain, Address: app.Address, Certificate: &cert},
		&lps.Options{TLS: pol.ClientConfig("", nil), ClassifyTLSError: trust.ClassifyHandshakeError})
	if err != nil {
		return fmt.Errorf("seed: connect: %w", err)
	}
	defer sc.Close()
	for _, m := range w.seedMails() {
		d := &message.Draft{From: message.Address{Name: app.Name, Addr: app.Address}, Subject: m.subject,
			Text: m.text, CDAs: m.cdas}
		for _, to := range m.to {
			d.To = append(d.To, message.Address{Addr: to})
		}
		comp, err := message.Compose(d, &message.Options{PatientDomain: w.Config.PatientDomain})
		if err != nil {
			return fmt.Errorf("seed: compose: %w", err)
		}
		if _, err := sc.Submit(ctx, app.Address, m.to, bytes.NewReader(comp.Data), nil); err != nil {
			return fmt.Errorf("seed: submit: %w", err)
		}
	}
	return nil
}
