package cda

import (
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
)

// narrative unmarshals a section/text narrative block into a Node tree.
type narrative struct {
	root *Node
}

var narrativeKinds = map[string]NodeKind{
	"paragraph":        NodeParagraph,
	"content":          NodeContent,
	"br":               NodeBreak,
	"list":             NodeList,
	"item":             NodeItem,
	"table":            NodeTable,
	"caption":          NodeCaption,
	"thead":            NodeTHead,
	"tbody":            NodeTBody,
	"tfoot":            NodeTFoot,
	"tr":               NodeRow,
	"th":               NodeHeaderCell,
	"td":               NodeCell,
	"footnote":         NodeFootnote,
	"footnoteRef":      NodeFootnoteRef,
	"linkHtml":         NodeLink,
	"sub":              NodeSub,
	"sup":              NodeSup,
	"renderMultiMedia": NodeMultiMedia,
}

// UnmarshalXML builds the tree of the element start. Unknown elements (col, colgroup, elements of
// other namespaces) are transparent: their content joins the parent.
func (n *narrative) UnmarshalXML(d *xml.Decoder, start xml.StartElement) error {
	n.root = &Node{Kind: NodeBlock}
	setAttrs(n.root, start.Attr)
	if err := readChildren(d, n.root, 0); err != nil {
		return err
	}
	tidy(n.root)
	return nil
}

// readChildren appends to parent the content up to the end of the current element. Text of
// transparent elements goes to parent too.
func readChildren(d *xml.Decoder, parent *Node, depth int) error {
	if depth > maxNarrativeDepth {
		return fmt.Errorf("%w: narrative block nested deeper than %d", ErrTooLarge, maxNarrativeDepth)
	}
	for {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.EndElement:
			return nil
		case xml.CharData:
			appendText(parent, string(t))
		case xml.StartElement:
			kind, known := narrativeKinds[t.Name.Local]
			if !known || (t.Name.Space != "" && t.Name.Space != Namespace) {
				if err := readChildren(d, parent, depth+1); err != nil {
					return err
				}
				continue
			}
			if kind == NodeContent && deleted(t.Attr) {
				// <content revised="delete">: text the author deleted; it is not part of the
				// narrative a reader sees (as the HL7 CDA stylesheet hides it).
				if err := d.Skip(); err != nil {
					return err
				}
				continue
			}
			child := &Node{Kind: kind}
			setAttrs(child, t.Attr)
			parent.Children = append(parent.Children, child)
			if err := readChildren(d, child, depth+1); err != nil {
				return err
			}
		}
	}
}

// deleted reports whether an element carries revised="delete".
func deleted(attrs []xml.Attr) bool {
	for _, a := range attrs {
		if a.Name.Local == "revised" && strings.TrimSpace(a.Value) == "delete" {
			return true
		}
	}
	return false
}

// appendText adds character data as a text node. Adjacent text nodes (text split by comments or
// transparent elements) are merged by tidy, in linear time.
func appendText(parent *Node, s string) {
	if s = foldSpace(s); s != "" {
		parent.Children = append(parent.Children, &Node{Kind: NodeText, Text: s})
	}
}

// mergeText joins runs of adjacent text nodes into one, folding the spaces at their seams.
func mergeText(children []*Node) []*Node {
	out := children[:0]
	for i := 0; i < len(children); {
		c := children[i]
		j := i + 1
		if c.Kind == NodeText && j < len(children) && children[j].Kind == NodeText {
			var b strings.Builder
			b.WriteString(c.Text)
			for ; j < len(children) && children[j].Kind == NodeText; j++ {
				b.WriteString(children[j].Text)
			}
			c.Text = foldSpace(b.String())
		}
		out = append(out, c)
		i = j
	}
	clear(children[len(out):])
	return out
}

// foldSpace replaces every run of XML white space by one space.
func foldSpace(s string) string {
	if !needsFold(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		if r == ' ' || r == '\t' || r == '\n' || r == '\r' {
			if !space {
				b.WriteByte(' ')
			}
			space = true
			continue
		}
		space = false
		b.WriteRune(r)
	}
	return b.String()
}

// needsFold reports whether s holds a white space other than a single space.
func needsFold(s string) bool {
	prev := false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\t', '\n', '\r':
			return true
		case ' ':
			if prev {
				return true
			}
			prev = true
		default:
			prev = false
		}
	}
	return false
}

func setAttrs(n *Node, attrs []xml.Attr) {
	for _, a := range attrs {
		switch a.Name.Local {
		case "styleCode":
			n.StyleCode = strings.TrimSpace(a.Value)
		case "ID":
			n.ID = a.Value
		case "listType":
			n.Ordered = strings.EqualFold(strings.TrimSpace(a.Value), "ordered")
		case "colspan":
			n.ColSpan = span(a.Value)
		case "rowspan":
			n.RowSpan = span(a.Value)
		case "href":
			if n.Kind == NodeLink {
				n.Href = a.Value
			}
		case "IDREF":
			if n.Kind == NodeFootnoteRef {
				n.Href = strings.TrimPrefix(a.Value, "#")
			}
		case "referencedObject":
			if n.Kind == NodeMultiMedia {
				n.Href = strings.TrimSpace(a.Value)
			}
		}
	}
}

func span(v string) int {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 || n > 1000 {
		return 0
	}
	return n
}

// blockLevel reports whether a node starts its own line when rendered.
func blockLevel(k NodeKind) bool {
	switch k {
	case NodeParagraph, NodeList, NodeItem, NodeTable, NodeCaption, NodeTHead, NodeTBody, NodeTFoot,
		NodeRow, NodeHeaderCell, NodeCell, NodeFootnote, NodeMultiMedia:
		return true
	}
	return false
}

// structural reports whether text directly inside a node of kind k is layout only.
func structural(k NodeKind) bool {
	switch k {
	case NodeList, NodeTable, NodeTHead, NodeTBody, NodeTFoot, NodeRow:
		return true
	}
	return false
}

// tidy drops the layout white space: white-space-only text in structural nodes, and the spaces
// that touch the edges of a block or a block-level sibling.
func tidy(n *Node) {
	n.Children = mergeText(n.Children)
	kept := n.Children[:0]
	for i, c := range n.Children {
		if c.Kind != NodeText {
			tidy(c)
			kept = append(kept, c)
			continue
		}
		if structural(n.Kind) && strings.TrimSpace(c.Text) == "" {
			continue
		}
		if i == 0 || blockLevel(n.Children[i-1].Kind) || n.Children[i-1].Kind == NodeBreak {
			c.Text = strings.TrimLeft(c.Text, " ")
		}
		if i == len(n.Children)-1 || blockLevel(n.Children[i+1].Kind) || n.Children[i+1].Kind == NodeBreak {
			c.Text = strings.TrimRight(c.Text, " ")
		}
		if c.Text != "" {
			kept = append(kept, c)
		}
	}
	clear(n.Children[len(kept):])
	n.Children = kept
}

// PlainText returns the text of the node and its children, block-level nodes and breaks on their
// own lines, cells separated by tabs. It serves indexing and previews, not rendering.
func (n *Node) PlainText() string {
	var b strings.Builder
	n.plain(&b)
	lines := strings.Split(b.String(), "\n")
	out := lines[:0]
	for _, l := range lines {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func (n *Node) plain(b *strings.Builder) {
	if n == nil {
		return
	}
	switch n.Kind {
	case NodeText:
		b.WriteString(n.Text)
		return
	case NodeBreak:
		b.WriteByte('\n')
		return
	case NodeHeaderCell, NodeCell:
		b.WriteByte('\t')
	}
	if blockLevel(n.Kind) && n.Kind != NodeHeaderCell && n.Kind != NodeCell {
		b.WriteByte('\n')
	}
	for _, c := range n.Children {
		c.plain(b)
	}
	if blockLevel(n.Kind) && n.Kind != NodeHeaderCell && n.Kind != NodeCell {
		b.WriteByte('\n')
	}
}
