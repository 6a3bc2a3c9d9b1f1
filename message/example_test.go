package message_test

import (
	"fmt"
	"strings"

	"github.com/mssante/mssante/message"
)

func ExampleSubject() {
	s, _ := message.Subject([]message.DocumentInfo{{
		TypeName: "Lettre de liaison à la sortie d'un établissement de soins",
		Patient:  message.PatientNames{BirthName: "Lefèvre", FirstName: "Françoise", BirthDate: "19911203"},
	}})
	fmt.Println(s)
	fmt.Println(message.DisplaySubject(s))
	// Output:
	// XDM/1.0/DDM+Lettre de liaison à la sortie d'un établ LEFEVRE FRANCOISE 03/12/1991
	// Lettre de liaison à la sortie d'un établ LEFEVRE FRANCOISE 03/12/1991
}

func ExampleCompose() {
	label, _ := message.SenderLabel{Title: "Dr", FirstName: "Marie", Name: "Martin"}.Label()
	c, err := message.Compose(&message.Draft{
		From:    message.Address{Name: label, Addr: "marie.martin@medecin.mssante.fr"},
		To:      []message.Address{{Addr: "jean.dupont@hopital-a.mssante.fr"}},
		Subject: "Votre patient",
		Text:    "Bonjour,\nje vous adresse mon patient.\n",
		MDN:     true,
	}, &message.Options{NIL: "REF-PRODUIT"})
	if err != nil {
		fmt.Println(err)
		return
	}
	m, _ := message.Parse(c.Data, nil)
	fmt.Println(m.From.String(), m.Headers["X-MSS-NIL"], m.MDNRequested, strings.TrimSpace(m.Text) != "")
	// Output:
	// "Dr Marie MARTIN" <marie.martin@medecin.mssante.fr> REF-PRODUIT true true
}
