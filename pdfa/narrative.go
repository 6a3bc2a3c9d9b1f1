package pdfa

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/mssante/mssante/cda"
)

const (
	indentList   = 14.0  // indentation of list items, points
	minListWidth = 120.0 // below this width nested lists stop indenting, points
)

// sectionTitle is the heading of a section: its title, else the display name of its code.
func sectionTitle(s *cda.Section) string {
	if t := strings.TrimSpace(s.Title); t != "" {
		return t
	}
	if s.Code.DisplayName != "" {
		return s.Code.DisplayName
	}
	return "Section"
}

// renderSection lays out a section heading, its narrative and its subsections.
func renderSection(l *layout, s *cda.Section, depth int) {
	size := l.fitSize(sectionTitle(s), styleBold, max(sizeHeading-1.5*float64(depth-1), sizeBody+0.5), sizeFitFloor)
	// Keep the heading with at least two lines of what follows.
	l.need(size*lineFactor + 2*sizeBody*lineFactor + 6)
	l.y -= 4
	l.paragraph([]run{{sectionTitle(s), styleBold}}, marginLeft, contentWidth, size)
	l.y -= 2
	if s.Text != nil {
		l.blocks(s.Text.Children, marginLeft, contentWidth, styleRegular)
	}
	for i := range s.Sections {
		renderSection(l, &s.Sections[i], depth+1)
	}
	l.y -= 4
}

// fitSize returns the size, between lowest and size, at which text fits on one line, so that a
// heading stays one line for readers and for text extraction; lowest when it cannot.
func (l *layout) fitSize(text string, st style, size, lowest float64) float64 {
	w := float64(l.fonts.face(st).width(l.clean(text, st))) * size / 1000
	if w <= contentWidth {
		return size
	}
	return max(lowest, math.Floor(size*contentWidth/w*10)/10)
}

// withStyle combines the styleCode of a narrative element with the current style.
func withStyle(st style, code string) style {
	for _, c := range strings.Fields(code) {
		switch c {
		case "Bold", "Emphasis":
			st |= styleBold
		case "Italics":
			st |= styleItalic
		}
	}
	return st
}

// isBlock reports whether a narrative node starts its own block.
func isBlock(n *cda.Node) bool {
	switch n.Kind {
	case cda.NodeParagraph, cda.NodeList, cda.NodeTable, cda.NodeCaption, cda.NodeFootnote,
		cda.NodeBlock, cda.NodeItem, cda.NodeTHead, cda.NodeTBody, cda.NodeTFoot, cda.NodeRow,
		cda.NodeCell, cda.NodeHeaderCell:
		return true
	}
	return false
}

// blocks lays out a sequence of narrative nodes in a column at x of the given width: inline
// nodes gather into paragraphs, block nodes are laid out in turn.
func (l *layout) blocks(nodes []*cda.Node, x, width float64, st style) {
	var pending []run
	flush := func() {
		if hasText(pending) {
			l.paragraph(pending, x, width, sizeBody)
		}
		pending = nil
	}
	for _, n := range nodes {
		if !isBlock(n) {
			pending = l.flatten(n, st, pending)
			continue
		}
		flush()
		switch n.Kind {
		case cda.NodeParagraph:
			l.blocks(n.Children, x, width, withStyle(st, n.StyleCode))
			l.y -= 3
		case cda.NodeCaption:
			l.paragraph(l.flatten(n, st|styleBold, nil), x, width, sizeBody)
		case cda.NodeFootnote:
			label := "Note"
			if n.ID != "" {
				label += " " + n.ID
			}
			runs := []run{{label + " : ", st | styleItalic}}
			for _, c := range n.Children {
				runs = l.flatten(c, st|styleItalic, runs)
			}
			l.paragraph(runs, x, width, sizeTable)
		case cda.NodeList:
			l.list(n, x, width, st)
		case cda.NodeTable:
			l.table(n, x, width, st)
		default:
			l.blocks(n.Children, x, width, st)
		}
	}
	flush()
}

func hasText(runs []run) bool {
	for _, r := range runs {
		if strings.TrimSpace(r.text) != "" {
			return true
		}
	}
	return false
}

// list lays out the items of a list with bullets or numbers.
func (l *layout) list(n *cda.Node, x, width float64, st style) {
	num := 0
	for _, it := range n.Children {
		if it.Kind == cda.NodeCaption {
			l.paragraph(l.flatten(it, st|styleBold, nil), x, width, sizeBody)
			continue
		}
		if it.Kind != cda.NodeItem {
			continue
		}
		num++
		mark := "•"
		if n.Ordered {
			mark = strconv.Itoa(num) + "."
		}
		if width-indentList < minListWidth {
			// Deeply nested: no more indentation, the mark leads the item's text.
			lead := &cda.Node{Kind: cda.NodeText, Text: mark + " "}
			l.blocks(append([]*cda.Node{lead}, it.Children...), x, width, withStyle(st, it.StyleCode))
			continue
		}
		l.need(sizeBody * lineFactor)
		// The mark ends close to the text so that text extraction keeps it on the item's line.
		mw := float64(l.fonts.face(st).width(l.clean(mark, st))) * sizeBody / 1000
		l.text(x+indentList-3-mw, l.y-sizeBody, sizeBody, st, l.clean(mark, st))
		l.blocks(it.Children, x+indentList, width-indentList, withStyle(st, it.StyleCode))
	}
	l.y -= 3
}

// flatten appends the text of an inline subtree to runs. Block structure met inside (a list or a
// table in a table cell) becomes line breaks, bullets and " | " between cells, so that nothing is
// lost where a grid cannot nest.
func (l *layout) flatten(n *cda.Node, st style, runs []run) []run {
	switch n.Kind {
	case cda.NodeText:
		return append(runs, run{n.Text, st})
	case cda.NodeBreak:
		return append(runs, run{"\n", st})
	case cda.NodeMultiMedia:
		l.warn(fmt.Errorf("multimedia object %q is not reproduced in the PDF", n.Href))
		return append(runs, run{"[Image non reproduite : " + n.Href + "]", st | styleItalic})
	case cda.NodeFootnoteRef:
		return append(runs, run{"[" + n.Href + "]", st})
	case cda.NodeParagraph, cda.NodeCaption, cda.NodeRow, cda.NodeFootnote:
		runs = lineBreak(runs, st)
		for _, c := range n.Children {
			runs = l.flatten(c, withStyle(st, n.StyleCode), runs)
		}
		return lineBreak(runs, st)
	case cda.NodeItem:
		runs = lineBreak(runs, st)
		runs = append(runs, run{"• ", st})
	case cda.NodeCell, cda.NodeHeaderCell:
		if len(runs) > 0 && runs[len(runs)-1].text != "\n" {
			runs = append(runs, run{" | ", st})
		}
	}
	st = withStyle(st, n.StyleCode)
	switch n.Kind {
	case cda.NodeHeaderCell:
		st |= styleBold
	case cda.NodeSup:
		st = st&^styleSub | styleSup
	case cda.NodeSub:
		st = st&^styleSup | styleSub
	}
	for _, c := range n.Children {
		runs = l.flatten(c, st, runs)
	}
	if n.Kind == cda.NodeLink && n.Href != "" && !strings.HasPrefix(n.Href, "#") && !strings.Contains(textOf(n), n.Href) {
		runs = append(runs, run{" (" + n.Href + ")", st})
	}
	return runs
}

// lineBreak ends the current line unless runs is empty or already ends one.
func lineBreak(runs []run, st style) []run {
	if len(runs) == 0 || runs[len(runs)-1].text == "\n" {
		return runs
	}
	return append(runs, run{"\n", st})
}

// textOf returns the plain text of a subtree.
func textOf(n *cda.Node) string {
	if n.Kind == cda.NodeText {
		return n.Text
	}
	var b strings.Builder
	for _, c := range n.Children {
		b.WriteString(textOf(c))
	}
	return b.String()
}
