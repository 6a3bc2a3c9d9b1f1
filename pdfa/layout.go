package pdfa

import (
	"fmt"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// Page geometry in points: A4 portrait.
const (
	pageWidth    = 595.28
	pageHeight   = 841.89
	marginLeft   = 50.0
	marginRight  = 50.0
	marginTop    = 50.0
	marginBottom = 60.0 // leaves room for the footer
	contentWidth = pageWidth - marginLeft - marginRight
	lineFactor   = 1.3 // leading as a multiple of the font size
)

// run is a piece of text in one style. A run whose text is "\n" is a hard line break.
type run struct {
	text string
	st   style
}

// page is the content stream of one page being built.
type page struct {
	ops    strings.Builder
	images []int // indices in layout.images of the images the page shows
}

// layout places text and rules on pages, top to bottom, breaking pages as needed.
type layout struct {
	fonts *fontSet
	pages []*page
	y     float64 // top of the next line on the current page
	// onNewPage, when set, runs after a page break (tables repeat their header rows with it).
	onNewPage func()
	warn      func(error)
	missing   map[rune]bool
	images    []*pdfImage
}

func newLayout(fonts *fontSet, warn func(error)) *layout {
	l := &layout{fonts: fonts, warn: warn, missing: map[rune]bool{}}
	l.newPage()
	return l
}

func (l *layout) cur() *page { return l.pages[len(l.pages)-1] }

func (l *layout) newPage() {
	l.pages = append(l.pages, &page{})
	l.y = pageHeight - marginTop
	if l.onNewPage != nil {
		hook := l.onNewPage
		l.onNewPage = nil // a header taller than a page must not recurse
		hook()
		l.onNewPage = hook
	}
}

// need breaks the page when less than h points remain above the bottom margin. It reports
// whether it broke.
func (l *layout) need(h float64) bool {
	if l.y-h < marginBottom && l.y < pageHeight-marginTop {
		l.newPage()
		return true
	}
	return false
}

// clean returns s ready to show in style st: invisible characters (soft hyphen, zero-width
// space, byte order mark) removed, typographic spaces and hyphens the fonts lack replaced by their
// nearest equivalent (a narrow no-break space by a no-break space), and any other character
// without a glyph replaced by "?" with one warning per character.
func (l *layout) clean(s string, st style) string {
	f := l.fonts.face(st)
	// Decomposed text (NFD, as macOS writes it: "e" + U+0301) becomes the precomposed letters
	// the fonts have.
	s = norm.NFC.String(s)
	ok := true
	for _, r := range s {
		if _, has := f.lookup(r); !has || r == '\u00AD' {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '\u00AD', '\u200B', '\u200C', '\u200D', '\u2060', '\uFEFF':
			continue
		case '\u202F', '\u2007':
			r = '\u00A0'
		case '\t', '\r', '\n', '\v', '\f', '\u0085', '\u2028', '\u2029', '\u2009', '\u2002', '\u2003', '\u2004', '\u2005', '\u2006', '\u2008', '\u200A':
			r = ' '
		case '\u2010', '\u2011':
			r = '-'
		}
		if _, has := f.lookup(r); has || r == ' ' {
			b.WriteRune(r)
			continue
		}
		// A letter with diacritics the font lacks ("ậ", "ǹ") keeps its base letter; a lone
		// combining mark is left out.
		base := []rune(norm.NFD.String(string(r)))[0]
		_, hasBase := f.lookup(base)
		switch {
		case unicode.Is(unicode.Mn, r):
			if !l.missing[r] {
				l.missing[r] = true
				l.warn(fmt.Errorf("character %U has no glyph in the embedded font: left out", r))
			}
			continue
		case base != r && hasBase:
			if !l.missing[r] {
				l.missing[r] = true
				l.warn(fmt.Errorf("character %U has no glyph in the embedded font: shown as %q", r, base))
			}
			b.WriteRune(base)
			continue
		}
		if !l.missing[r] {
			l.missing[r] = true
			l.warn(fmt.Errorf("character %U has no glyph in the embedded font: shown as \"?\"", r))
		}
		b.WriteByte('?')
	}
	return b.String()
}

// text shows s at baseline (x, y) in style st and size.
func (l *layout) text(x, y, size float64, st style, s string) {
	if s == "" {
		return
	}
	f := l.fonts.face(st)
	fmt.Fprintf(&l.cur().ops, "BT /%s %s Tf %s %s Td %s Tj ET\n", f.res, num(size*st.scale()), num(x), num(y+st.rise(size)), f.encode(s))
}

// advance is the width of text in style st at a font size, in points.
func (l *layout) advance(text string, st style, size float64) float64 {
	return float64(l.fonts.face(st).width(text)) * size * st.scale() / 1000
}

// rule draws a horizontal line.
func (l *layout) rule(x0, x1, y, width float64) {
	fmt.Fprintf(&l.cur().ops, "%s w 0.6 0.6 0.6 RG %s %s m %s %s l S\n", num(width), num(x0), num(y), num(x1), num(y))
}

// cell draws a table cell given by its top-left corner: a light grey background when fill, and
// its borders, without the top one when openTop and without the bottom one when openBottom (the
// slots of a cell spanning several rows).
func (l *layout) cell(x, top, w, h float64, fill, openTop, openBottom bool) {
	ops := &l.cur().ops
	bottom := top - h
	if fill {
		fmt.Fprintf(ops, "0.92 0.92 0.92 rg %s %s %s %s re f 0 0 0 rg\n", num(x), num(bottom), num(w), num(h))
	}
	fmt.Fprintf(ops, "0.5 w 0.6 0.6 0.6 RG %s %s m %s %s l %s %s m %s %s l", num(x), num(top), num(x), num(bottom),
		num(x+w), num(top), num(x+w), num(bottom))
	if !openTop {
		fmt.Fprintf(ops, " %s %s m %s %s l", num(x), num(top), num(x+w), num(top))
	}
	if !openBottom {
		fmt.Fprintf(ops, " %s %s m %s %s l", num(x), num(bottom), num(x+w), num(bottom))
	}
	ops.WriteString(" S\n")
}

// num formats a coordinate with at most two decimals.
func num(v float64) string {
	s := fmt.Sprintf("%.2f", v)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "-0" || s == "" {
		return "0"
	}
	return s
}

// word is a sequence of runs with no space inside; space reports a space before it.
type word struct {
	parts []run
	space bool
	width float64
}

// piece is a positioned piece of a laid-out line.
type piece struct {
	x    float64
	text string
	st   style
}

// wrap breaks runs into lines no wider than width at the given size. Words wider than a line are
// cut between characters.
func (l *layout) wrap(runs []run, width, size float64) [][]piece {
	var lines [][]piece
	for _, words := range l.words(runs, size) {
		lines = append(lines, l.fill(words, width, size)...)
	}
	return lines
}

// words splits runs into hard lines of words measured at size.
func (l *layout) words(runs []run, size float64) [][]word {
	var out [][]word
	var words []word
	pendingSpace := false
	for _, r := range runs {
		if r.text == "\n" {
			out = append(out, words)
			words, pendingSpace = nil, false
			continue
		}
		text := l.clean(r.text, r.st)
		for i, field := range strings.Split(text, " ") {
			if i > 0 {
				pendingSpace = true
			}
			if field == "" {
				continue
			}
			w := l.advance(field, r.st, size)
			if len(words) > 0 && !pendingSpace {
				last := &words[len(words)-1]
				last.parts = append(last.parts, run{field, r.st})
				last.width += w
			} else {
				words = append(words, word{parts: []run{{field, r.st}}, space: pendingSpace, width: w})
			}
			pendingSpace = false
		}
	}
	if len(words) > 0 {
		out = append(out, words)
	}
	return out
}

// measure returns the width of runs on unbounded lines and the width of their longest word.
func (l *layout) measure(runs []run, size float64) (natural, longest float64) {
	spaceW := float64(l.fonts.face(styleRegular).width(" ")) * size / 1000
	for _, words := range l.words(runs, size) {
		w := 0.0
		for i, wd := range words {
			if i > 0 && wd.space {
				w += spaceW
			}
			w += wd.width
			longest = max(longest, wd.width)
		}
		natural = max(natural, w)
	}
	return natural, longest
}

// fill lays words out greedily on lines of the given width.
func (l *layout) fill(words []word, width, size float64) [][]piece {
	spaceW := float64(l.fonts.face(styleRegular).width(" ")) * size / 1000
	var lines [][]piece
	var line []piece
	x := 0.0
	emit := func(w word, at float64, withSpace bool) {
		for i, p := range w.parts {
			n := len(line)
			switch {
			case i == 0 && withSpace && n > 0 && line[n-1].st == p.st:
				line[n-1].text += " " + p.text
			case i > 0 && n > 0 && line[n-1].st == p.st:
				line[n-1].text += p.text
			default:
				line = append(line, piece{x: at, text: p.text, st: p.st})
			}
			at += l.advance(p.text, p.st, size)
		}
	}
	for _, w := range words {
		gap := 0.0
		if len(line) > 0 && w.space {
			gap = spaceW
		}
		if len(line) > 0 && x+gap+w.width > width {
			lines = append(lines, line)
			line, x, gap = nil, 0, 0
		}
		if w.width > width {
			// Cut an over-long word (a URL, a code) between characters.
			for _, p := range w.parts {
				var cut strings.Builder
				for _, r := range p.text {
					rw := l.advance(string(r), p.st, size)
					if x+rw > width && (len(line) > 0 || cut.Len() > 0) {
						line = append(line, piece{x: x - l.advance(cut.String(), p.st, size), text: cut.String(), st: p.st})
						lines = append(lines, line)
						line, x = nil, 0
						cut.Reset()
					}
					cut.WriteRune(r)
					x += rw
				}
				if cut.Len() > 0 {
					line = append(line, piece{x: x - l.advance(cut.String(), p.st, size), text: cut.String(), st: p.st})
				}
			}
			continue
		}
		emit(w, x+gap, gap > 0)
		x += gap + w.width
	}
	if len(line) > 0 || len(lines) == 0 {
		lines = append(lines, line)
	}
	return lines
}

// paragraph lays runs out from the current position, indented at x, breaking pages as needed.
func (l *layout) paragraph(runs []run, x, width, size float64) {
	lead := size * lineFactor
	for _, line := range l.wrap(runs, width, size) {
		l.need(lead)
		l.drawLine(line, x, l.y-size, size)
		l.y -= lead
	}
}

// drawLine shows the pieces of one line at baseline y.
func (l *layout) drawLine(line []piece, x, y, size float64) {
	for _, p := range line {
		l.text(x+p.x, y, size, p.st, p.text)
	}
}
