package autoconfig_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/mssante/mssante/autoconfig"
)

// Parse an autoconfig document and select the servers of an applicative mailbox.
func ExampleConfig_Select() {
	doc := `<clientConfig version="1.1"><emailProvider id="hopital.test">
	  <incomingServer type="imap"><hostname>imap.%EMAILDOMAIN%</hostname><port>143</port>
	    <socketType>STARTTLS</socketType><authentication>TLS-client-cert</authentication>
	    <username>%EMAILADDRESS%</username></incomingServer>
	  <outgoingServer type="smtp"><hostname>smtp.%EMAILDOMAIN%</hostname><port>587</port>
	    <socketType>STARTTLS</socketType><authentication>TLS-client-cert</authentication>
	    <username>%EMAILLOCALPART%@%EMAILDOMAIN%</username></outgoingServer>
	</emailProvider></clientConfig>`
	cfg, err := autoconfig.Read(strings.NewReader(doc), "labo@hopital.test", 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	servers, err := cfg.Select(autoconfig.FamilyApplicative)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(servers.IMAP.Addr(), servers.IMAP.Username)
	fmt.Println(servers.SMTP.Addr(), servers.SMTP.Username)
	// Output:
	// imap.hopital.test:143 labo@hopital.test
	// smtp.hopital.test:587 labo@hopital.test
}

// Discover the servers of a personal mailbox (network: not run as a test).
func ExampleDiscover() {
	cfg, err := autoconfig.Discover(context.Background(), "dr.martin@operateur.mssante.fr", autoconfig.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	servers, err := cfg.Select(autoconfig.FamilyPersonal)
	if err == nil {
		fmt.Println(servers.SMTP.Addr())
	}
}
