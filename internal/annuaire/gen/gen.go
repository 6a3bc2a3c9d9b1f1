// Package gen writes synthetic Annuaire Santé extraction files (Extraction_Correspondance_MSSante
// format: UTF-8, "|"-separated, 31 columns, one header line) for tests and benchmarks. The
// identities are invented: common French last and first names combined at random, plus names made
// of syllables, with professions, specialities, organisations and cities of realistic shape. The
// output depends only on the row count and the seed.
package gen

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
)

// Header is the header line of the extraction file (without line end).
const Header = "Type de BAL|Adresse BAL|Type Identifiant PP|Identifiant PP|Identification nationale PP|" +
	"Type identifiant structure|Identification Structure|Service de rattachement|Civilité d'exercice|" +
	"Nom d'exercice|Prénom d'exercice|Catégorie profession|Libellé de catégorie profession|" +
	"Code Profession|Libellé Profession|Code savoir-faire|Libellé savoir-faire|Dématérialisation|" +
	"Raison Sociale structure BAL|Enseigne commerciale structure BAL|" +
	"L2COMPLEMENTLOCALISATION structure BAL|L3COMPLEMENTDISTRIBUTION structure BAL|" +
	"L4NUMEROVOIE structure BAL|L4COMPLEMENTNUMEROVOIE structure BAL|NL4TYPEVOIE structure BAL|" +
	"L4LIBELLEVOIE structure BAL|L5LIEUDITMENTION structure BAL|L6LIGNEACHEMINEMENT structure BAL|" +
	"Code postal structure BAL|Département structure BAL|Pays structure BAL"

var lastNames = strings.Fields(`MARTIN BERNARD THOMAS PETIT ROBERT RICHARD DURAND DUBOIS MOREAU LAURENT
SIMON MICHEL LEFEBVRE LEROY ROUX DAVID BERTRAND MOREL FOURNIER GIRARD BONNET DUPONT LAMBERT FONTAINE
ROUSSEAU VINCENT MULLER LEFEVRE FAURE ANDRE MERCIER BLANC GUERIN BOYER GARNIER CHEVALIER FRANCOIS
LEGRAND GAUTHIER GARCIA PERRIN ROBIN CLEMENT MORIN NICOLAS HENRY ROUSSEL MATHIEU GAUTIER MASSON
MARCHAND DUVAL DENIS DUMONT MARIE LEMAIRE NOEL MEYER DUFOUR MEUNIER BRUN BLANCHARD GIRAUD JOLY
RIVIERE LUCAS BRUNET GAILLARD BARBIER ARNAUD MARTINEZ GERARD ROCHE RENARD SCHMITT ROY LEROUX COLIN
VIDAL CARON PICARD ROGER FABRE AUBERT LEMOINE RENAUD DUMAS LACROIX OLIVIER PHILIPPE BOURGEOIS PIERRE
BENOIT REY LECLERC PAYET ROLLAND LECLERCQ GUILLAUME LECOMTE LOPEZ JEAN DUPUY GUILLOT HUBERT BERGER
CARPENTIER SANCHEZ DUPUIS MOULIN LOUIS DESCHAMPS HUET VASSEUR PEREZ BOUCHER FLEURY ROYER KLEIN
JACQUET ADAM PARIS POIRIER MARTY AUBRY GUYOT CARRE CHARLES RENAULT CHARPENTIER MENARD MAILLARD
BARON BERTIN BAILLY HERVE SCHNEIDER FERNANDEZ LE_GALL COLLET LEGER BOUVIER JULIEN PREVOST MILLET
PERROT DANIEL LE_ROUX COUSIN GERMAIN BRETON BESSON LANGLOIS REMY LE_GOFF PELLETIER LEVEQUE PERRIER
LEBLANC BARRE LEBRUN MARCHAL WEBER MALLET HAMON BOULANGER JACOB MONNIER MICHAUD RODRIGUEZ GUICHARD
GILLET ETIENNE GRONDIN POULAIN TESSIER CHEVALLIER COLLIN CHAUVIN DA_SILVA BOUCHET GAY LEMAITRE
BENARD MARECHAL HUMBERT REYNAUD ANTOINE HOARAU PERRET BARTHELEMY CORDIER PICHON LEJEUNE GILBERT
LAMY DELAUNAY PASQUIER CARLIER LAPORTE NGUYEN HADDAD BENSAID KHELIFI OUEDRAOGO DIALLO TRAORE`)

var firstNames = strings.Fields(`Marie Jean Pierre Michel Philippe Nathalie Isabelle Catherine Sylvie
Christophe Stéphane Frédéric Laurent Céline Sophie Sandrine Nicolas Julien Camille Émilie Aurélie
Thomas Antoine Hélène Véronique Valérie Christine Anne François Françoise Alain Patrick Éric David
Olivier Sébastien Vincent Mathieu Guillaume Caroline Virginie Élodie Julie Claire Agnès Bruno Denis
Jérôme Hugo Léa Chloé Manon Inès Zoé Maël Noémie Gaëlle Anaïs Loïc Joël Benoît Cécile Mélanie Hervé
Thierry Pascal Dominique Didier Yves Gérard Bernard Daniel Jacques Paul Louis Lucas Nathan Théo
Clément Maxime Alexandre Romain Adrien Quentin Pauline Marion Margaux Laure Agathe Solène Yasmine
Karim Mohamed Fatima Samira Nadia Rachid Amina Mehdi Sarah Laura Emma Jade Louise Alice Lina Rose`)

var syllables = strings.Fields(`ba be bo bou bri ca cha che co cou da de di do dou fa fe fo ga ge gi go
gou la le li lo lou ma me mi mo mou na ne ni no pa pe pi po ra re ri ro rou sa se si so ta te ti to
tou va ve vi vo mar ber lan ter vin gal mon ril bert ville court mont champ val vert`)

type profession struct {
	code, label, category string
	weight                int
	domain                string
	specialties           [][2]string
}

var professions = []profession{
	{"10", "Médecin", "Civil", 45, "medecin.mssante.fr", [][2]string{
		{"SM54", "Médecine Générale"}, {"SM04", "Cardiologie et maladies vasculaires"},
		{"SM15", "Dermatologie et vénéréologie"}, {"SM26", "Pédiatrie"}, {"SM19", "Gynécologie-obstétrique"},
		{"SM32", "Psychiatrie"}, {"SM02", "Anesthésie-réanimation"}, {"SM38", "Radio-diagnostic"},
		{"SM24", "Ophtalmologie"}, {"SM25", "Oto-rhino-laryngologie"}, {"SM33", "Pneumologie"},
		{"SM21", "Néphrologie"}, {"SM16", "Endocrinologie et métabolisme"}, {"SM28", "Rhumatologie"},
		{"SM53", "Gériatrie"}, {"SM22", "Neurologie"}, {"SM42", "Chirurgie orthopédique et traumatologie"}}},
	{"21", "Pharmacien", "Civil", 12, "pharmacien.mssante.fr", [][2]string{{"", ""}}},
	{"40", "Chirurgien-Dentiste", "Civil", 8, "dentiste.mssante.fr", [][2]string{
		{"", ""}, {"SCD01", "Orthopédie dento-faciale"}, {"SCD02", "Chirurgie orale"}}},
	{"50", "Sage-Femme", "Civil", 5, "sagefemme.mssante.fr", [][2]string{{"", ""}}},
	{"60", "Infirmier", "Civil", 18, "infirmier.mssante.fr", [][2]string{{"", ""}}},
	{"70", "Masseur-Kinésithérapeute", "Civil", 6, "kine.mssante.fr", [][2]string{{"", ""}}},
	{"80", "Pédicure-Podologue", "Civil", 2, "podologue.mssante.fr", [][2]string{{"", ""}}},
	{"91", "Orthophoniste", "Civil", 2, "orthophoniste.mssante.fr", [][2]string{{"", ""}}},
	{"96", "Psychomotricien", "Civil", 1, "mssante.fr", [][2]string{{"", ""}}},
	{"26", "Audioprothésiste", "Civil", 1, "mssante.fr", [][2]string{{"", ""}}},
}

type city struct{ name, postcode, dept string }

var cities = []city{
	{"PARIS", "75013", "75"}, {"PARIS", "75015", "75"}, {"PARIS", "75018", "75"}, {"PARIS", "75005", "75"},
	{"MARSEILLE", "13005", "13"}, {"MARSEILLE", "13008", "13"}, {"LYON", "69003", "69"}, {"LYON", "69008", "69"},
	{"TOULOUSE", "31000", "31"}, {"NICE", "06000", "06"}, {"NANTES", "44000", "44"}, {"STRASBOURG", "67000", "67"},
	{"MONTPELLIER", "34000", "34"}, {"BORDEAUX", "33000", "33"}, {"LILLE", "59000", "59"}, {"RENNES", "35000", "35"},
	{"REIMS", "51100", "51"}, {"SAINT-ÉTIENNE", "42000", "42"}, {"LE HAVRE", "76600", "76"}, {"TOULON", "83000", "83"},
	{"GRENOBLE", "38000", "38"}, {"DIJON", "21000", "21"}, {"ANGERS", "49000", "49"}, {"NÎMES", "30000", "30"},
	{"VILLEURBANNE", "69100", "69"}, {"CLERMONT-FERRAND", "63000", "63"}, {"LE MANS", "72000", "72"},
	{"AIX-EN-PROVENCE", "13100", "13"}, {"BREST", "29200", "29"}, {"TOURS", "37000", "37"}, {"AMIENS", "80000", "80"},
	{"LIMOGES", "87000", "87"}, {"ANNECY", "74000", "74"}, {"PERPIGNAN", "66000", "66"}, {"BESANÇON", "25000", "25"},
	{"METZ", "57000", "57"}, {"ORLÉANS", "45000", "45"}, {"ROUEN", "76000", "76"}, {"MULHOUSE", "68100", "68"},
	{"CAEN", "14000", "14"}, {"NANCY", "54000", "54"}, {"SAINT-DENIS", "97400", "974"}, {"AJACCIO", "20000", "2A"},
	{"BASTIA", "20200", "2B"}, {"POITIERS", "86000", "86"}, {"PAU", "64000", "64"}, {"LA ROCHELLE", "17000", "17"},
	{"CHÂTEAUROUX", "36000", "36"}, {"ÉVREUX", "27000", "27"}, {"SAINT-MALO", "35400", "35"}, {"VANNES", "56000", "56"},
	{"QUIMPER", "29000", "29"}, {"BÉZIERS", "34500", "34"}, {"VALENCE", "26000", "26"}, {"CRÉTEIL", "94000", "94"},
	{"VERSAILLES", "78000", "78"}, {"POINTE-À-PITRE", "97110", "971"}, {"FORT-DE-FRANCE", "97200", "972"},
}

var streets = strings.Fields(`Pasteur Victor-Hugo Jean-Jaurès Gambetta Foch République Liberté
Gaulle Clemenceau Carnot Voltaire Hôpital Paix Moulin Église Gare Château Écoles`)

var orgKinds = []struct{ label, service string }{
	{"Centre Hospitalier de %s", "Service de cardiologie"}, {"Centre Hospitalier Universitaire de %s", "Service des urgences"},
	{"Clinique Saint-%s", "Bloc opératoire"}, {"Laboratoire de biologie médicale de %s", "Secrétariat"},
	{"Pharmacie du Centre %s", ""}, {"Maison de santé pluriprofessionnelle de %s", "Accueil"},
	{"Centre de radiologie de %s", "Imagerie médicale"}, {"EHPAD Les Tilleuls %s", "Infirmerie"},
	{"Centre de santé municipal de %s", "Médecine générale"}, {"Cabinet médical %s", ""},
}

// Write writes an extraction file of rows data lines (plus the header) generated from seed.
// About 15% of the rows are ORG mailboxes and one row in 3,000 repeats an earlier address.
func Write(w io.Writer, rows int, seed uint64) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	if _, err := bw.WriteString(Header + "\n"); err != nil {
		return err
	}
	g := &generator{r: rand.New(rand.NewPCG(seed, seed^0x6d7373616e7465)), used: make(map[string]int, rows)}
	var prev []string
	for i := 0; i < rows; i++ {
		var f []string
		switch {
		case i > 0 && i%3000 == 0 && prev != nil:
			f = prev // a repeated address, as in the real file
		case g.r.IntN(100) < 15:
			f = g.org(i)
		default:
			f = g.per(i)
		}
		if g.r.IntN(500) == 0 {
			prev = f
		}
		if _, err := bw.WriteString(strings.Join(f, "|") + "\n"); err != nil {
			return err
		}
	}
	return bw.Flush()
}

type generator struct {
	r    *rand.Rand
	used map[string]int
}

// zipf picks an index in [0,n) favouring the first ones, as name frequencies do.
func (g *generator) zipf(n int) int {
	x := g.r.Float64()
	return int(float64(n) * x * x * x)
}

func (g *generator) lastName() string {
	if g.r.IntN(100) < 40 {
		n := 2 + g.r.IntN(2)
		var b strings.Builder
		for range n {
			b.WriteString(syllables[g.r.IntN(len(syllables))])
		}
		return strings.ToUpper(b.String())
	}
	return strings.ReplaceAll(lastNames[g.zipf(len(lastNames))], "_", " ")
}

func (g *generator) firstName() string {
	f := firstNames[g.zipf(len(firstNames))]
	if g.r.IntN(20) == 0 {
		f += "-" + firstNames[g.r.IntN(len(firstNames))]
	}
	return f
}

func (g *generator) profession() profession {
	total := 0
	for _, p := range professions {
		total += p.weight
	}
	n := g.r.IntN(total)
	for _, p := range professions {
		if n < p.weight {
			return p
		}
		n -= p.weight
	}
	return professions[0]
}

// address returns a unique mailbox address made of local@domain.
func (g *generator) address(local, domain string) string {
	local = asciiLocal(local)
	a := local + "@" + domain
	if n := g.used[a]; n > 0 {
		g.used[a] = n + 1
		a = fmt.Sprintf("%s%d@%s", local, n+1, domain)
	}
	g.used[a]++
	return a
}

func (g *generator) place() (city, []string) {
	c := cities[g.zipf(len(cities))]
	num := fmt.Sprint(1 + g.r.IntN(150))
	kind := []string{"RUE", "AV", "BD", "PL", "CHE"}[g.r.IntN(5)]
	street := streets[g.r.IntN(len(streets))]
	// L2, L3, L4 number, L4 complement, L4 type, L4 street, L5, L6, postcode, department, country
	return c, []string{"", "", num, "", kind, strings.ToUpper(street), "", c.postcode + " " + c.name, c.postcode, c.dept, "FRANCE"}
}

func (g *generator) per(i int) []string {
	last, first := g.lastName(), g.firstName()
	p := g.profession()
	sp := p.specialties[g.r.IntN(len(p.specialties))]
	c, addr := g.place()
	civ := []string{"M", "MME", "DR", "PR"}[g.r.IntN(4)]
	if p.code != "10" {
		civ = []string{"M", "MME"}[g.r.IntN(2)]
	}
	rpps := fmt.Sprintf("10%09d", 100000000+i)
	org, service := "", ""
	if g.r.IntN(3) == 0 {
		k := orgKinds[g.r.IntN(len(orgKinds))]
		org, service = fmt.Sprintf(k.label, titleCase(c.name)), k.service
	} else {
		org = "Cabinet " + titleCase(last)
	}
	domain := p.domain
	if g.r.IntN(4) == 0 {
		domain = strings.ToLower(strings.ReplaceAll(asciiLocal(c.name), " ", "-")) + ".mssante.fr"
	}
	f := []string{"PER", g.address(strings.ToLower(first+"."+last), domain), "8", rpps, "8" + rpps,
		"3", fmt.Sprintf("R%08d", g.r.IntN(1e8)), service, civ, last, first, "C", p.category, p.code, p.label,
		sp[0], sp[1], []string{"True", "False"}[g.r.IntN(2)], org, ""}
	return append(f, addr...)
}

func (g *generator) org(i int) []string {
	c, addr := g.place()
	k := orgKinds[g.r.IntN(len(orgKinds))]
	name := fmt.Sprintf(k.label, titleCase(c.name))
	local := []string{"secretariat", "accueil", "contact", "urgences", "labo", "imagerie"}[g.r.IntN(6)]
	domain := strings.ToLower(strings.ReplaceAll(asciiLocal(c.name), " ", "-")) + ".mssante.fr"
	f := []string{"ORG", g.address(local, domain), "", "", "", "1", fmt.Sprintf("%09d", 100000000+i),
		k.service, "", "", "", "", "", "", "", "", "", "True", name, ""}
	return append(f, addr...)
}

func titleCase(s string) string {
	words := strings.Fields(strings.ToLower(s))
	for i, w := range words {
		r := []rune(w)
		r[0] = []rune(strings.ToUpper(string(r[0])))[0]
		words[i] = string(r)
	}
	return strings.Join(words, " ")
}

// asciiLocal removes accents and characters not allowed in a mailbox local part.
func asciiLocal(s string) string {
	repl := strings.NewReplacer("é", "e", "è", "e", "ê", "e", "ë", "e", "à", "a", "â", "a", "î", "i",
		"ï", "i", "ô", "o", "ç", "c", "û", "u", "ü", "u", "É", "E", "Î", "I", "Â", "A", " ", "")
	return repl.Replace(s)
}
