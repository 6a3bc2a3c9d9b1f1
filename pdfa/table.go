package pdfa

import (
	"fmt"
	"math"

	"github.com/mssante/mssante/cda"
)

const (
	cellPad    = 3.0  // inner margin of a table cell, points
	minColumn  = 24.0 // narrowest column, points
	tableAfter = 6.0  // space after a table
	// minTableSize is the smallest font size a wide table is shrunk to, points.
	minTableSize = 6.0
)

// tableCell is one cell placed in the grid.
type tableCell struct {
	col, span int
	rows      int // rowspan: the text is drawn in the first row, the slots below join it
	runs      []run
	// cont marks the slot of a rowspan cell in a later row: no top border; openBottom leaves the
	// bottom border out while the span continues below.
	cont, openBottom bool
	header           bool
}

// tableRow is one row of a table; header rows are repeated at the top of each page.
type tableRow struct {
	cells  []tableCell
	header bool
}

// tableRows collects the rows of a table (thead, tbody, tfoot or direct tr) and places the
// cells in columns, honouring colspan and rowspan. It returns the rows and the column count.
func (l *layout) tableRows(t *cda.Node, st style) ([]tableRow, int) {
	var rows []tableRow
	var feet []*cda.Node
	var collect func(n *cda.Node, header bool)
	collect = func(n *cda.Node, header bool) {
		for _, c := range n.Children {
			switch c.Kind {
			case cda.NodeTHead:
				collect(c, true)
			case cda.NodeTBody:
				collect(c, false)
			case cda.NodeTFoot:
				feet = append(feet, c) // shown after the body, wherever it is written (HTML)
			case cda.NodeRow:
				rows = append(rows, l.tableRow(c, header, st))
			}
		}
	}
	collect(t, false)
	for _, f := range feet {
		collect(f, false)
	}
	// A table without thead whose first row holds only th has that row as header.
	if len(rows) > 0 && !rows[0].header {
		all := len(rows[0].cells) > 0
		for _, c := range rows[0].cells {
			all = all && c.header
		}
		rows[0].header = all
	}
	// Place cells in columns, skipping slots that a rowspan above still occupies.
	type span struct{ col, width, last int }
	occupied := map[[2]int]span{}
	cols := 0
	for r := range rows {
		col := 0
		for i := range rows[r].cells {
			c := &rows[r].cells[i]
			for {
				if _, busy := occupied[[2]int{r, col}]; !busy {
					break
				}
				col++
			}
			c.col = col
			if c.rows > len(rows)-r {
				c.rows = len(rows) - r // a rowspan past the last row ends there
			}
			for k := 1; k < c.rows; k++ {
				for j := range c.span {
					occupied[[2]int{r + k, col + j}] = span{col, c.span, r + c.rows - 1}
				}
			}
			col += c.span
		}
		cols = max(cols, col)
	}
	// Add the continuation slots of rowspans, and complete short rows with empty cells, so that
	// the grid is drawn whole.
	for r := range rows {
		covered := make([]bool, cols)
		for _, c := range rows[r].cells {
			for j := c.col; j < min(c.col+c.span, cols); j++ {
				covered[j] = true
			}
		}
		for j := range cols {
			if covered[j] {
				continue
			}
			if o, ok := occupied[[2]int{r, j}]; ok && o.col == j {
				rows[r].cells = append(rows[r].cells, tableCell{col: j, span: o.width, rows: 1, cont: true, openBottom: r < o.last})
				for k := j; k < min(j+o.width, cols); k++ {
					covered[k] = true
				}
				continue
			}
			rows[r].cells = append(rows[r].cells, tableCell{col: j, span: 1, rows: 1})
		}
	}
	return rows, cols
}

func (l *layout) tableRow(tr *cda.Node, header bool, st style) tableRow {
	row := tableRow{header: header}
	for _, c := range tr.Children {
		if c.Kind != cda.NodeCell && c.Kind != cda.NodeHeaderCell {
			continue
		}
		cst := withStyle(st, c.StyleCode)
		isTH := c.Kind == cda.NodeHeaderCell
		if isTH || header {
			cst |= styleBold
		}
		var runs []run
		for _, ch := range c.Children {
			runs = l.flatten(ch, cst, runs)
		}
		row.cells = append(row.cells, tableCell{span: max(c.ColSpan, 1), rows: max(c.RowSpan, 1), runs: runs, header: isTH})
	}
	return row
}

// columnWidths shares width between columns from the natural and minimal widths of their cells,
// as an automatic HTML table layout does.
// fits is false when even the minimal widths exceed width (words will be cut).
func (l *layout) columnWidths(rows []tableRow, cols int, width, size float64) (w []float64, fits bool) {
	nat := make([]float64, cols)
	low := make([]float64, cols)
	for i := range cols {
		nat[i], low[i] = minColumn, minColumn
	}
	for _, r := range rows {
		for _, c := range r.cells {
			if c.span != 1 {
				continue
			}
			n, m := l.measure(c.runs, size)
			nat[c.col] = max(nat[c.col], n+2*cellPad+1)
			low[c.col] = max(low[c.col], min(m+2*cellPad+1, width/3))
		}
	}
	var sumNat, sumLow float64
	for i := range cols {
		sumNat += nat[i]
		sumLow += low[i]
	}
	w = make([]float64, cols)
	for i := range cols {
		switch {
		case sumNat <= width:
			w[i] = nat[i] * width / sumNat
		case sumLow >= width:
			w[i] = low[i] * width / sumLow
		default:
			w[i] = low[i] + (nat[i]-low[i])*(width-sumLow)/(sumNat-sumLow)
		}
	}
	return w, sumLow <= width
}

// grid is a table being drawn: its column edges and text size.
type grid struct {
	l     *layout
	cols  int
	lefts []float64 // x of each column edge, cols+1 values
	size  float64
	lead  float64
}

// lines wraps the text of each cell of r to its column width.
func (g *grid) lines(r tableRow) [][][]piece {
	lines := make([][][]piece, len(r.cells))
	for i, c := range r.cells {
		end := min(c.col+c.span, g.cols)
		lines[i] = g.l.wrap(c.runs, g.lefts[end]-g.lefts[c.col]-2*cellPad, g.size)
	}
	return lines
}

// height returns the number of lines of the row from line from on (at least one).
func height(lines [][][]piece, from int) int {
	n := 1
	for _, cl := range lines {
		n = max(n, len(cl)-from)
	}
	return n
}

// rowHeight is the height in points of count lines of a row.
func (g *grid) rowHeight(count int) float64 { return float64(count)*g.lead + 2*cellPad }

// draw draws count lines of r starting at line from, at the current position.
func (g *grid) draw(r tableRow, lines [][][]piece, from, count int) {
	l := g.l
	h := g.rowHeight(count)
	for i, c := range r.cells {
		end := min(c.col+c.span, g.cols)
		l.cell(g.lefts[c.col], l.y, g.lefts[end]-g.lefts[c.col], h, r.header || c.header, c.cont && from == 0, c.openBottom || c.rows > 1)
		for k := from; k < from+count && k < len(lines[i]); k++ {
			l.drawLine(lines[i][k], g.lefts[c.col]+cellPad, l.y-cellPad-g.size-float64(k-from)*g.lead, g.size)
		}
	}
	l.y -= h
}

// place draws a body row: on this page when it fits, else on the next one; a row taller than a
// page (pageRoom) is split between lines.
func (g *grid) place(r tableRow, pageRoom float64) {
	l := g.l
	lines := g.lines(r)
	n := height(lines, 0)
	from, fresh := 0, false
	for {
		h := g.rowHeight(n - from)
		if l.y-h >= marginBottom {
			g.draw(r, lines, from, n-from)
			return
		}
		fit := int(math.Floor((l.y - marginBottom - 2*cellPad) / g.lead))
		if !fresh && (h <= pageRoom || fit < 1) {
			l.newPage()
			fresh = true
			continue
		}
		fit = max(fit, 1)
		g.draw(r, lines, from, fit)
		if from += fit; from >= n {
			return
		}
		l.newPage()
		fresh = true
	}
}

// table lays out a narrative table as a grid: wrapped cells, header rows in bold on a grey
// background repeated on every page, rows split across pages only when taller than a page.
func (l *layout) table(t *cda.Node, x, width float64, st style) {
	for _, c := range t.Children {
		if c.Kind == cda.NodeCaption {
			l.paragraph(l.flatten(c, st|styleBold, nil), x, width, sizeBody)
		}
	}
	rows, cols := l.tableRows(t, st)
	if cols == 0 {
		return
	}
	// Shrink the text of a table too wide for the page until its longest words fit.
	size := sizeTable
	widths, fits := l.columnWidths(rows, cols, width, size)
	for !fits && size > minTableSize {
		size -= 0.5
		widths, fits = l.columnWidths(rows, cols, width, size)
	}
	if !fits {
		l.warn(fmt.Errorf("%w (%d columns): words are cut across lines", ErrWideTable, cols))
	}
	g := &grid{l: l, cols: cols, lefts: make([]float64, cols+1), size: size, lead: size * lineFactor}
	g.lefts[0] = x
	for i, w := range widths {
		g.lefts[i+1] = g.lefts[i] + w
	}

	nHeader := 0
	headerHeight := 0.0
	for _, r := range rows {
		if !r.header {
			break
		}
		nHeader++
		headerHeight += g.rowHeight(height(g.lines(r), 0))
	}
	if nHeader == len(rows) {
		nHeader, headerHeight = 0, 0 // only header rows: placed like body rows
	}
	drawHeader := func() {
		for _, r := range rows[:nHeader] {
			lines := g.lines(r)
			g.draw(r, lines, 0, height(lines, 0))
		}
	}
	pageRoom := pageHeight - marginTop - marginBottom - headerHeight
	if nHeader > 0 && nHeader < len(rows) {
		// Keep the header with the first body row.
		first := g.rowHeight(height(g.lines(rows[nHeader]), 0))
		l.need(headerHeight + min(first, pageRoom))
	}
	drawHeader()
	saved := l.onNewPage
	l.onNewPage = drawHeader // a page break inside the body repeats the header
	for _, r := range rows[nHeader:] {
		g.place(r, pageRoom)
	}
	l.onNewPage = saved
	l.y -= tableAfter
}
