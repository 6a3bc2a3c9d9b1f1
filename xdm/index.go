package xdm

import (
	"fmt"
	"html"
	"strings"
)

// indexHTM returns INDEX.HTM: a small HTML page listing the documents with links, as IHE ITI
// TF-1 §16.1.2 asks of every XDM medium. Text is in French, for the professional who opens it.
func indexHTM(p *Package) []byte {
	var b strings.Builder
	b.WriteString("<!DOCTYPE html>\r\n<html lang=\"fr\">\r\n<head>\r\n<meta charset=\"utf-8\">\r\n")
	b.WriteString("<title>Documents de santé (IHE XDM)</title>\r\n</head>\r\n<body>\r\n")
	b.WriteString("<h1>Documents de santé</h1>\r\n")
	info := PatientInfo{}
	if len(p.Documents) > 0 {
		info = p.Documents[0].Entry.PatientInfo()
	}
	fmt.Fprintf(&b, "<p>Patient : %s %s", html.EscapeString(info.BirthName), html.EscapeString(info.Given))
	if d := displayDate(info.BirthDate); d != "" {
		fmt.Fprintf(&b, ", né(e) le %s", d)
	}
	if p.Submission.PatientID != "" {
		fmt.Fprintf(&b, " (identifiant %s)", html.EscapeString(p.Submission.PatientID))
	}
	b.WriteString("</p>\r\n")
	fmt.Fprintf(&b, "<p>Envoi du %s.</p>\r\n", displayDate(p.Submission.SubmissionTime))
	b.WriteString("<table>\r\n<tr><th>Document</th><th>Type</th><th>Date</th><th>Fichier</th></tr>\r\n")
	for _, d := range p.Documents {
		fmt.Fprintf(&b, "<tr><td>%s</td><td>%s</td><td>%s</td><td><a href=\"%s\">%s</a></td></tr>\r\n",
			html.EscapeString(d.Entry.Title), html.EscapeString(d.Entry.TypeCode.Display),
			displayDate(d.Entry.CreationTime), html.EscapeString(d.Path), html.EscapeString(d.Path))
	}
	b.WriteString("</table>\r\n<p>Métadonnées : <a href=\"" + metaName + "\">" + metaName + "</a></p>\r\n")
	b.WriteString("</body>\r\n</html>\r\n")
	return []byte(b.String())
}

// readmeTXT returns README.TXT: who sent the medium with what software, and when (IHE ITI TF-1
// §16.1.2).
func readmeTXT(p *Package, o *BuildOptions) []byte {
	var b strings.Builder
	b.WriteString("Support IHE XDM (ITI-32) - documents de santé\r\n\r\n")
	fmt.Fprintf(&b, "Éditeur : %s\r\n", o.ReadmeVendor)
	fmt.Fprintf(&b, "Logiciel : %s\r\n", o.ReadmeProduct)
	fmt.Fprintf(&b, "Identifiant de la source : %s\r\n", p.Submission.SourceID)
	fmt.Fprintf(&b, "Date d'envoi (UTC) : %s\r\n", displayDateTime(p.Submission.SubmissionTime))
	fmt.Fprintf(&b, "Nombre de documents : %d\r\n\r\n", len(p.Documents))
	b.WriteString("Contenu :\r\n  INDEX.HTM        liste des documents\r\n  README.TXT       ce fichier\r\n")
	fmt.Fprintf(&b, "  %s  métadonnées XDS (ebRIM 3.0)\r\n", metaName)
	for _, d := range p.Documents {
		fmt.Fprintf(&b, "  %s  %s\r\n", d.Path, d.Entry.Title)
	}
	return []byte(b.String())
}

// displayDate turns an HL7 "YYYYMMDD…" into "DD/MM/YYYY"; "" when too short.
func displayDate(dtm string) string {
	if len(dtm) < 8 {
		return ""
	}
	return dtm[6:8] + "/" + dtm[4:6] + "/" + dtm[0:4]
}

// displayDateTime turns "YYYYMMDDhhmmss" into "DD/MM/YYYY hh:mm:ss".
func displayDateTime(dtm string) string {
	if len(dtm) < 14 {
		return displayDate(dtm)
	}
	return displayDate(dtm) + " " + dtm[8:10] + ":" + dtm[10:12] + ":" + dtm[12:14]
}
