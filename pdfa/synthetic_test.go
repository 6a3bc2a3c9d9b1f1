package pdfa

import (
	"fmt"
	"time"

	"github.com/mssante/mssante/cda"
)

// Helpers building narrative trees by hand, for tests that do not depend on the CDA parser.

func txt(s string) *cda.Node { return &cda.Node{Kind: cda.NodeText, Text: s} }

func el(k cda.NodeKind, children ...*cda.Node) *cda.Node {
	return &cda.Node{Kind: k, Children: children}
}

func bold(s string) *cda.Node {
	return &cda.Node{Kind: cda.NodeContent, StyleCode: "Bold", Children: []*cda.Node{txt(s)}}
}

func row(kind cda.NodeKind, cells ...string) *cda.Node {
	tr := el(cda.NodeRow)
	for _, c := range cells {
		tr.Children = append(tr.Children, el(kind, txt(c)))
	}
	return tr
}

var testClock = func() time.Time {
	return time.Date(2026, 11, 28, 17, 30, 0, 0, time.FixedZone("CET", 3600))
}

// syntheticDocument is an invented N3 document (test INS, invented names) with a paragraph,
// lists, a table of rows rows, French typography and nested sections.
func syntheticDocument(rows int) *cda.Document {
	paris := time.FixedZone("CET", 3600)
	table := el(cda.NodeTable,
		el(cda.NodeCaption, txt("Résultats de l’hémogramme")),
		el(cda.NodeTHead, row(cda.NodeHeaderCell, "Analyse", "Résultat", "Unité", "Valeurs de référence", "Commentaire")),
	)
	body := el(cda.NodeTBody)
	for i := range rows {
		body.Children = append(body.Children, row(cda.NodeCell,
			fmt.Sprintf("Paramètre n°%d", i+1), fmt.Sprintf("%d,%d", 10+i%7, i%10), "g/dL", "12,0 – 16,0",
			fmt.Sprintf("Ligne %d : contrôle à prévoir dans « trois mois », œdème à surveiller", i+1)))
	}
	table.Children = append(table.Children, body)
	return &cda.Document{
		Level:         cda.N3,
		Code:          cda.Code{Code: "11502-2", DisplayName: "CR d'examens biologiques", CodeSystem: "2.16.840.1.113883.6.1"},
		Title:         "Compte rendu d’examens biologiques — été 2026",
		EffectiveTime: cda.TS{Raw: "20261127103000+0100", Time: time.Date(2026, 11, 27, 10, 30, 0, 0, paris), HasZone: true},
		Patient: cda.Patient{
			Name:      cda.Name{Given: []string{"Éloïse"}, Family: "Fictivé"},
			BirthTime: cda.TS{Raw: "19850412", Time: time.Date(1985, 4, 12, 0, 0, 0, 0, paris)},
			Gender:    cda.Code{Code: "F"},
		},
		Authors: []cda.Author{{
			Time:         cda.TS{Raw: "20261127103000+0100", Time: time.Date(2026, 11, 27, 10, 30, 0, 0, paris), HasZone: true},
			Person:       &cda.Person{Name: cda.Name{Prefix: "Dr", Given: []string{"Gaël"}, Family: "Imaginaire"}, Specialty: cda.Code{DisplayName: "Biologie médicale"}},
			Organization: &cda.Organization{Name: "Laboratoire des Tests Synthétiques"},
		}},
		Custodian: &cda.Organization{Name: "Hôpital Fictif de Saint-Œuf"},
		Sections: []cda.Section{
			{Title: "Motif de l’examen", Text: el(cda.NodeBlock,
				el(cda.NodeParagraph, txt("Bilan annuel : fatigue, "), bold("pâleur"), txt(" et œdème des chevilles ; coût estimé 12 € « sans dépassement ».")),
				el(cda.NodeParagraph, txt("Surface corporelle 1,8 m"), el(cda.NodeSup, txt("2")), txt(", leucocytes 6,2 × 10"), el(cda.NodeSup, txt("9")), txt("/L, PaCO"), el(cda.NodeSub, txt("2")), txt(" normale."))),
			},
			{Title: "Traitements en cours", Text: el(cda.NodeBlock,
				el(cda.NodeList, el(cda.NodeItem, txt("Paracétamol 1 g si douleur")), el(cda.NodeItem, txt("Fer oral, 80 mg/jour"))),
				&cda.Node{Kind: cda.NodeList, Ordered: true, Children: []*cda.Node{el(cda.NodeItem, txt("Contrôle à J+7")), el(cda.NodeItem, txt("Consultation à M+3"))}},
			)},
			{Title: "Résultats", Text: el(cda.NodeBlock, table),
				Sections: []cda.Section{{Title: "Conclusion du biologiste", Text: el(cda.NodeBlock,
					txt("Anémie modérée"), el(cda.NodeBreak), txt("À recontrôler."))}}},
		},
	}
}
