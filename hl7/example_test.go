package hl7_test

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/mssante/mssante/cda"
	"github.com/mssante/mssante/hl7"
)

// Build the MDM of a received CDA for the record system, then read its ACK.
func ExampleBuildMDM() {
	data, err := os.ReadFile("../cda/testdata/n3-cr-biologie.xml") // a synthetic CDA
	if err != nil {
		panic(err)
	}
	header, err := cda.Parse(data)
	if err != nil {
		panic(err)
	}
	msg, err := hl7.BuildMDM(&hl7.Document{
		CDA:    data,
		Header: header,
		Mail: hl7.Mail{
			MessageID: "20260312.1@labo.essai.mssante.fr",
			Subject:   "XDM/1.0/DDM+CR de biologie",
			Body:      "Bonjour,\r\nci-joint le compte rendu.\r\n",
			From:      hl7.Participant{Address: "labo@labo.essai.mssante.fr"},
			To:        []hl7.Participant{{Address: "dpi@ch-essai.mssante.fr"}},
		},
	}, hl7.Envelope{
		SendingApplication: "MSSANTE", ReceivingApplication: "DPI",
		ControlID: "MSS-42", Time: time.Date(2026, 3, 12, 10, 0, 0, 0, time.UTC),
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(strings.SplitN(string(msg), "\r", 2)[0])

	ack, err := hl7.ParseAck([]byte("MSH|^~\\&|DPI||MSSANTE||20260312110001||ACK^T02^ACK|7|P|2.6\r" +
		"MSA|AE|MSS-42\r" +
		"ERR||PID^1^3|207^Application error^messageErrorCondition|E|902^Identifiant de patient inconnu^applicationErrorCode\r"))
	if err != nil {
		panic(err)
	}
	fmt.Println(ack.Code, ack.ControlID, ack.Accepted(), ack.Retry(), ack.Err())
	// Output:
	// MSH|^~\&|MSSANTE||DPI||20260312110000+0100||MDM^T02^MDM_T02|MSS-42|P|2.6|||||FRA|UNICODE UTF-8|||1.1^CISIS_CDA_HL7_LPS
	// AE MSS-42 false true hl7: message MSS-42 rejected (AE): 902 Identifiant de patient inconnu
}
