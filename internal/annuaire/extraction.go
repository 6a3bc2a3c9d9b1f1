package annuaire

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// The columns of the public extraction file Extraction_Correspondance_MSSante, in file order
// (ecosystem facts §3a). The file is UTF-8, "|"-separated, with one header line.
const (
	colType = iota
	colAddress
	colPPIDType
	colPPID
	colNationalID
	colOrgIDType
	colOrgID
	colService
	colCivility
	colLastName
	colFirstName
	colCategory
	colCategoryLabel
	colProfessionCode
	colProfession
	colSpecialtyCode
	colSpecialty
	colDigitization
	colOrganization
	colTradeName
	colL2
	colL3
	colL4Number
	colL4Complement
	colL4StreetType
	colL4Street
	colL5
	colL6
	colPostalCode
	colDepartment
	colCountry
	extractionColumns // 31
)

// ExtractionHeader is the header line of the extraction file, column names in order.
var ExtractionHeader = [extractionColumns]string{
	"Type de BAL", "Adresse BAL", "Type Identifiant PP", "Identifiant PP",
	"Identification nationale PP", "Type identifiant structure", "Identification Structure",
	"Service de rattachement", "Civilité d'exercice", "Nom d'exercice", "Prénom d'exercice",
	"Catégorie profession", "Libellé de catégorie profession", "Code Profession",
	"Libellé Profession", "Code savoir-faire", "Libellé savoir-faire", "Dématérialisation",
	"Raison Sociale structure BAL", "Enseigne commerciale structure BAL",
	"L2COMPLEMENTLOCALISATION structure BAL", "L3COMPLEMENTDISTRIBUTION structure BAL",
	"L4NUMEROVOIE structure BAL", "L4COMPLEMENTNUMEROVOIE structure BAL",
	"NL4TYPEVOIE structure BAL", "L4LIBELLEVOIE structure BAL", "L5LIEUDITMENTION structure BAL",
	"L6LIGNEACHEMINEMENT structure BAL", "Code postal structure BAL", "Département structure BAL",
	"Pays structure BAL",
}

// maxLine bounds one line of the extraction file; real lines are a few hundred bytes.
const maxLine = 64 << 10

// maxWarnings bounds the warnings ReadExtraction keeps (it still counts them all).
const maxWarnings = 20

// ErrNotExtraction means the input does not start with the extraction file's header: the caller
// gave another file (or an HTML error page); nothing was read past the first line.
var ErrNotExtraction = errors.New("not an Annuaire Santé MSSanté extraction file")

// ReadStats reports what ReadExtraction saw.
type ReadStats struct {
	Rows     int     // data lines read (blank lines excluded)
	BadLines int     // lines skipped: wrong column count, no address, too long
	Warnings []error // the first warnings (bad lines, header differences), at most 20
}

func (s *ReadStats) warn(err error) {
	if len(s.Warnings) < maxWarnings {
		s.Warnings = append(s.Warnings, err)
	}
}

// LineError is a warning about one line of the extraction file.
type LineError struct {
	Line int // 1-based line number, the header being line 1
	Msg  string
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// ReadExtraction streams the extraction file from r and calls fn with each mailbox entry, in file
// order, with Source "local". It accepts a UTF-8 BOM and CRLF line ends. Lines with a wrong column
// count or no address are skipped and counted in BadLines, with a warning. An error from fn stops
// the read and is returned. Duplicated addresses are passed on: deduplicating is the caller's job.
func ReadExtraction(r io.Reader, fn func(Entry) error) (ReadStats, error) {
	var st ReadStats
	br := bufio.NewReaderSize(r, 256<<10)
	lineNo := 0
	header := true
	for {
		line, tooLong, err := readLine(br)
		if err != nil && err != io.EOF {
			return st, fmt.Errorf("reading extraction: %w", err)
		}
		if len(line) > 0 || tooLong || err == nil {
			lineNo++
		}
		switch {
		case header && lineNo == 1:
			header = false
			if herr := checkHeader(line, &st); herr != nil {
				return st, herr
			}
		case tooLong:
			st.Rows++
			st.BadLines++
			st.warn(&LineError{lineNo, "line too long"})
		case len(bytes.TrimSpace(line)) > 0:
			st.Rows++
			e, msg := parseLine(line)
			if msg != "" {
				st.BadLines++
				st.warn(&LineError{lineNo, msg})
			} else if ferr := fn(e); ferr != nil {
				return st, ferr
			}
		}
		if err == io.EOF {
			if header {
				return st, fmt.Errorf("%w: empty input", ErrNotExtraction)
			}
			return st, nil
		}
	}
}

// readLine returns the next line without its line end. A line longer than maxLine is discarded up
// to its end and reported as tooLong. err is io.EOF with the last, unterminated line.
func readLine(br *bufio.Reader) (line []byte, tooLong bool, err error) {
	line, err = br.ReadSlice('\n')
	for err == bufio.ErrBufferFull { // longer than the buffer, thus than maxLine
		tooLong = true
		_, err = br.ReadSlice('\n')
	}
	if tooLong || len(line) > maxLine {
		return nil, true, err
	}
	line = bytes.TrimSuffix(line, []byte("\n"))
	return bytes.TrimSuffix(line, []byte("\r")), false, err
}

// checkHeader verifies the header line: 31 columns, the first two named as in the extraction
// file. Other differences of names (accents, the " structure BAL" suffix) only warn.
func checkHeader(line []byte, st *ReadStats) error {
	line = bytes.TrimPrefix(line, []byte("\ufeff"))
	names := strings.Split(string(line), "|")
	if len(names) != extractionColumns {
		return fmt.Errorf("%w: header has %d columns, want %d", ErrNotExtraction, len(names), extractionColumns)
	}
	for i, name := range names {
		if foldHeader(name) == foldHeader(ExtractionHeader[i]) {
			continue
		}
		if i <= colAddress {
			return fmt.Errorf("%w: column %d is %q, want %q", ErrNotExtraction, i+1, name, ExtractionHeader[i])
		}
		st.warn(&LineError{1, fmt.Sprintf("column %d is %q, expected %q", i+1, name, ExtractionHeader[i])})
	}
	return nil
}

// foldHeader folds a column name for comparison: no accents, case, punctuation or suffix.
func foldHeader(s string) string {
	s = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), " structure bal")
	s = Fold(s)
	return strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return r
		}
		return -1
	}, s)
}

// Fold removes diacritics and lowers case, as the index's tokenizer does ("Hélène" → "helene").
func Fold(s string) string {
	t := transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
	out, _, err := transform.String(t, s)
	if err != nil {
		out = s
	}
	return strings.ToLower(out)
}

// parseLine maps one data line to an Entry. msg is non-empty when the line is unusable.
func parseLine(line []byte) (Entry, string) {
	if !bytes.ContainsRune(line, '|') {
		return Entry{}, "no column separator"
	}
	if n := bytes.Count(line, []byte("|")) + 1; n != extractionColumns {
		return Entry{}, fmt.Sprintf("%d columns, want %d", n, extractionColumns)
	}
	if !utf8.Valid(line) {
		line = bytes.ToValidUTF8(line, []byte("\uFFFD"))
	}
	s := string(line) // one allocation; the fields below share it
	var f [extractionColumns]string
	for i := 0; i < extractionColumns-1; i++ {
		j := strings.IndexByte(s, '|')
		f[i] = strings.TrimSpace(s[:j])
		s = s[j+1:]
	}
	f[extractionColumns-1] = strings.TrimSpace(s)
	if f[colAddress] == "" || !strings.Contains(f[colAddress], "@") {
		return Entry{}, "no mailbox address"
	}
	org := f[colOrganization]
	if org == "" {
		org = f[colTradeName]
	}
	e := Entry{
		Address:        f[colAddress],
		Type:           strings.ToUpper(f[colType]),
		NationalID:     f[colNationalID],
		Civility:       f[colCivility],
		LastName:       f[colLastName],
		FirstName:      f[colFirstName],
		ProfessionCode: f[colProfessionCode],
		Profession:     f[colProfession],
		Specialty:      f[colSpecialty],
		Organization:   org,
		TradeName:      tradeName(f[colTradeName], org),
		Service:        f[colService],
		City:           cityOf(f[colL6], f[colPostalCode]),
		PostalCode:     f[colPostalCode],
		Department:     departmentOf(f[colDepartment], f[colPostalCode]),
		Source:         "local",
	}
	return e, ""
}

// tradeName returns the trade name when it adds to the organisation name, else "".
func tradeName(trade, org string) string {
	if strings.EqualFold(trade, org) {
		return ""
	}
	return trade
}

// cityOf extracts the city from the L6 delivery line "75013 PARIS" (postcode then city). The
// line's postcode may differ from the postcode column (a CEDEX code: "42055 SAINT-ETIENNE CEDEX
// 2" beside 42000): any leading number is left out.
func cityOf(l6, postcode string) string {
	city := strings.TrimSpace(l6)
	if postcode != "" && strings.HasPrefix(city, postcode) {
		city = city[len(postcode):]
	} else if i := strings.IndexByte(city, ' '); i > 0 && isDigits(city[:i]) {
		city = city[i:]
	}
	return strings.TrimSpace(city)
}

// departmentOf returns the department code: the column when it holds a code ("75", "2A", "974"),
// else one derived from the postcode.
func departmentOf(col, postcode string) string {
	if n := len(col); n >= 1 && n <= 3 && isAlnum(col) {
		return strings.ToUpper(col)
	}
	if len(postcode) == 5 && isDigits(postcode) {
		if strings.HasPrefix(postcode, "97") || strings.HasPrefix(postcode, "98") {
			return postcode[:3]
		}
		if postcode[:2] == "20" { // Corsica: 200xx-201xx Corse-du-Sud, 202xx-206xx Haute-Corse
			if postcode[2] <= '1' {
				return "2A"
			}
			return "2B"
		}
		return postcode[:2]
	}
	return col
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func isAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		if (s[i] < '0' || s[i] > '9') && (c < 'a' || c > 'z') {
			return false
		}
	}
	return true
}
