package operator

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// CONDSTORE (RFC 7162) in front of go-imap v2 beta.8, whose server knows nothing of
// mod-sequences (it refuses SELECT (CONDSTORE), the MODSEQ fetch item and the CHANGEDSINCE and
// UNCHANGEDSINCE modifiers). The store keeps a mod-sequence per message and a HIGHESTMODSEQ per
// folder (store.go); the front takes the CONDSTORE parts off the command line before go-imap
// parses it, leaves them here for the session, and completes go-imap's responses:
//   - SELECT/EXAMINE … (CONDSTORE), ENABLE CONDSTORE, FETCH MODSEQ or CHANGEDSINCE enable
//     CONDSTORE for the connection; then every SELECT and EXAMINE gets "* OK [HIGHESTMODSEQ n]";
//   - FETCH … MODSEQ and (CHANGEDSINCE n) (which implies MODSEQ): the session filters the
//     messages and gives their mod-sequences, the front writes "MODSEQ (n)" into each FETCH
//     response; STORE responses carry MODSEQ once CONDSTORE is enabled;
//   - STORE (UNCHANGEDSINCE n): messages changed since n are left alone and named in the
//     tagged OK's [MODIFIED set];
//   - once enabled, the unsolicited FETCH responses of flag changes (another session's STORE)
//     carry MODSEQ, found by their UID;
//   - STATUS … (HIGHESTMODSEQ): the front asks go-imap for the other items and adds it.
//
//   - SEARCH … MODSEQ n: the session keeps the messages of mod-sequence n or more and the front
//     adds "(MODSEQ highest)" to the SEARCH response; MODSEQ under OR or NOT is refused (BAD).
//
// Not done: QRESYNC (not offered).

// condState is the CONDSTORE state of a connection.
type condState struct {
	enabled bool

	// The command in flight, set by the front before it passes the command on, read by the
	// session while go-imap runs it (the pipe orders the two).
	modSeq         bool    // FETCH asked for MODSEQ (or CHANGEDSINCE)
	changedSince   uint64  // FETCH (CHANGEDSINCE n)
	unchangedSince *uint64 // STORE (UNCHANGEDSINCE n)
	highest        bool    // SELECT/EXAMINE: announce HIGHESTMODSEQ
	enableAdd      bool    // ENABLE also named CONDSTORE: add it to "* ENABLED"
	statusHighest  string  // STATUS of this folder asked for HIGHESTMODSEQ
	searchModSeq   uint64  // SEARCH MODSEQ n

	mu        sync.Mutex        // what the pump reads while the session writes
	seqModSeq map[uint32]uint64 // FETCH responses to complete, by sequence number
	modified  string            // STORE: the MODIFIED response code
	searchMax uint64            // SEARCH MODSEQ: the highest mod-sequence of the results
}

func (c *condState) reset() {
	c.modSeq, c.changedSince, c.unchangedSince, c.highest, c.enableAdd = false, 0, nil, false, false
	c.statusHighest, c.searchModSeq = "", 0
	c.mu.Lock()
	c.seqModSeq, c.modified, c.searchMax = nil, "", 0
	c.mu.Unlock()
}

// reportModSeq has the FETCH response of seq carry modSeq.
func (c *condState) reportModSeq(seq uint32, modSeq uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seqModSeq == nil {
		c.seqModSeq = map[uint32]uint64{}
	}
	c.seqModSeq[seq] = modSeq
}

func (c *condState) setModified(set string) {
	c.mu.Lock()
	c.modified = set
	c.mu.Unlock()
}

// cond is the CONDSTORE state of the session's connection.
func (s *imapSession) cond() *condState {
	if s.front == nil {
		return &condState{}
	}
	return &s.front.cond
}

// condStoreCommand takes the CONDSTORE parts off a command line; done reports that the front
// answered the command itself.
func (f *imapFront) condStoreCommand(tag, name, args string, line []byte) (_ []byte, done bool) {
	c := &f.cond
	rebuild := func(args string) []byte { return []byte(tag + " " + name + " " + args) }
	switch name {
	case "ENABLE":
		var rest []string
		asked := false
		for _, w := range strings.Fields(args) {
			if strings.EqualFold(w, "CONDSTORE") {
				asked = true
			} else {
				rest = append(rest, w)
			}
		}
		if !asked || !f.authenticated() {
			return line, false
		}
		was := c.enabled
		c.enabled = true
		if len(rest) == 0 {
			var highest string
			if sel := f.selected(); sel != nil && !was { // as Dovecot, the selected mailbox's HIGHESTMODSEQ
				mb := sel.mb
				mb.mu.Lock()
				highest = fmt.Sprintf("* OK [HIGHESTMODSEQ %d] Highest\r\n", mb.modSeq)
				mb.mu.Unlock()
			}
			f.write(highest + "* ENABLED CONDSTORE\r\n" + tag + " OK Enabled.\r\n")
			return nil, true
		}
		c.enableAdd = true
		return rebuild(strings.Join(rest, " ")), false
	case "SEARCH", "UID SEARCH":
		if _, lit := literalSuffix(string(line)); lit || !strings.Contains(strings.ToUpper(args), "MODSEQ") {
			return line, false
		}
		toks := searchTokens(args)
		if !slices.ContainsFunc(toks, func(t string) bool {
			t = strings.ToUpper(t)
			return t == "MODSEQ" || (strings.HasPrefix(t, "(") && strings.Contains(t, "MODSEQ"))
		}) {
			return line, false // "modseq" in a string
		}
		var kept []string
		criteria := 0
		for i := 0; i < len(toks); i++ {
			t := strings.ToUpper(toks[i])
			switch {
			case t == "RETURN" || t == "CHARSET":
				if i+1 < len(toks) {
					kept = append(kept, toks[i], toks[i+1])
					i++
				}
				continue
			case t == "OR" || t == "NOT" || (strings.HasPrefix(t, "(") && strings.Contains(t, "MODSEQ")):
				f.write(fmt.Sprintf("%s BAD Error in IMAP command %s: MODSEQ under OR, NOT or parentheses is not supported\r\n", tag, name))
				return nil, true
			case t == "MODSEQ":
				j := i + 1
				if j < len(toks) && strings.HasPrefix(toks[j], `"`) {
					j += 2 // entry name and type (RFC 7162 §3.1.5): flags have one mod-sequence here
				}
				var n uint64
				var err error = errBadModSeq
				if j < len(toks) {
					n, err = strconv.ParseUint(toks[j], 10, 63)
				}
				if err != nil {
					f.write(fmt.Sprintf("%s BAD Error in IMAP command %s: Invalid MODSEQ\r\n", tag, name))
					return nil, true
				}
				c.searchModSeq, c.enabled = max(c.searchModSeq, n, 1), true
				i = j
				continue
			}
			kept = append(kept, toks[i])
			criteria++
		}
		if c.searchModSeq == 0 {
			return line, false
		}
		if criteria == 0 {
			kept = append(kept, "ALL")
		}
		return rebuild(strings.Join(kept, " ")), false
	case "STATUS":
		i := strings.LastIndex(args, " (")
		if i < 0 || !strings.HasSuffix(args, ")") || !f.authenticated() {
			return line, false
		}
		name, _ := parseAString(args[:i])
		var items []string
		for _, it := range strings.Fields(args[i+2 : len(args)-1]) {
			if strings.EqualFold(it, "HIGHESTMODSEQ") {
				c.statusHighest = name
			} else {
				items = append(items, it)
			}
		}
		if c.statusHighest == "" {
			return line, false
		}
		c.enabled = true
		return rebuild(args[:i] + " (" + strings.Join(items, " ") + ")"), false
	case "SELECT", "EXAMINE":
		if i := len(args) - len(" (CONDSTORE)"); i > 0 && strings.EqualFold(args[i:], " (CONDSTORE)") {
			args = args[:i]
			c.enabled = true
		}
		c.highest = c.enabled
		return rebuild(args), false
	case "FETCH", "UID FETCH":
		set, atts, mods, ok := splitFetch(args)
		if !ok {
			return line, false
		}
		var kept []string
		for _, a := range atts {
			if strings.EqualFold(a, "MODSEQ") {
				c.modSeq = true
			} else {
				kept = append(kept, a)
			}
		}
		if mods != "" {
			mf := strings.Fields(strings.Trim(mods, "()"))
			n, err := uint64(0), error(nil)
			if len(mf) == 2 && strings.EqualFold(mf[0], "CHANGEDSINCE") {
				n, err = strconv.ParseUint(mf[1], 10, 63)
			}
			if len(mf) != 2 || err != nil || n == 0 {
				// QRESYNC's VANISHED among them: not offered.
				f.write(fmt.Sprintf("%s BAD Error in IMAP command %s: Invalid FETCH modifiers\r\n", tag, name))
				return nil, true
			}
			c.changedSince, c.modSeq = n, true
		}
		if !c.modSeq {
			return line, false
		}
		c.enabled = true
		if len(kept) == 0 {
			kept = []string{"UID"}
		}
		return rebuild(set + " (" + strings.Join(kept, " ") + ")"), false
	case "STORE", "UID STORE":
		set, rest, _ := strings.Cut(args, " ")
		if !strings.HasPrefix(rest, "(") {
			return line, false
		}
		mod, rest, ok := strings.Cut(rest[1:], ")")
		fields := strings.Fields(mod)
		if !ok || len(fields) != 2 || !strings.EqualFold(fields[0], "UNCHANGEDSINCE") {
			return line, false // go-imap answers BAD
		}
		n, err := strconv.ParseUint(fields[1], 10, 63)
		if err != nil {
			return line, false
		}
		c.unchangedSince, c.enabled = &n, true
		return rebuild(set + rest), false
	}
	return line, false
}

// splitFetch splits FETCH arguments into the set, the items (a macro or a parenthesised list)
// and the modifiers in parentheses, if any.
func splitFetch(args string) (set string, atts []string, mods string, ok bool) {
	set, rest, ok := strings.Cut(args, " ")
	if !ok || set == "" || rest == "" {
		return "", nil, "", false
	}
	list := strings.HasPrefix(rest, "(")
	if list {
		rest = rest[1:]
	}
	depth, start := 0, 0
	for i := 0; i < len(rest); i++ {
		switch rest[i] {
		case '[', '(', '<':
			depth++
		case ']', '>':
			if depth == 0 {
				return "", nil, "", false
			}
			depth--
		case ')':
			if depth == 0 && list {
				if i > start {
					atts = append(atts, rest[start:i])
				}
				return set, atts, strings.TrimSpace(rest[i+1:]), len(atts) > 0
			}
			if depth == 0 {
				return "", nil, "", false
			}
			depth--
		case ' ':
			if depth == 0 {
				if i > start {
					atts = append(atts, rest[start:i])
				}
				start = i + 1
				if !list {
					return set, atts, strings.TrimSpace(rest[start:]), len(atts) > 0
				}
			}
		}
	}
	if list || depth != 0 {
		return "", nil, "", false
	}
	return set, []string{rest}, "", true
}

// selected is the session's selected folder, read under the session's lock (the front's pump
// runs beside the goroutine of go-imap that selects and closes), or nil.
func (f *imapFront) selected() *view {
	if f.sess == nil {
		return nil
	}
	return f.sess.selected()
}

// rewriteCondStore completes a response line of go-imap: MODSEQ in FETCH responses, HIGHESTMODSEQ
// before the tagged OK of SELECT/EXAMINE, MODIFIED in STORE's, CONDSTORE in ENABLED. ev is the
// tagged answer the line is, if it is one.
func (f *imapFront) rewriteCondStore(line string, ev *outEvent) string {
	c := &f.cond
	switch {
	case ev != nil && !ev.cont && ev.status == "OK":
		if sel := f.selected(); c.highest && sel != nil {
			mb := sel.mb
			mb.mu.Lock()
			n := mb.modSeq
			mb.mu.Unlock()
			line = fmt.Sprintf("* OK [HIGHESTMODSEQ %d] Highest\r\n", n) + line
		}
		c.mu.Lock()
		modified := c.modified
		c.mu.Unlock()
		if modified != "" {
			tag, rest, _ := strings.Cut(line, " ")
			line = tag + " OK [MODIFIED " + modified + "]" + strings.TrimPrefix(rest, "OK")
		}
	case strings.HasPrefix(line, "* SEARCH") || strings.HasPrefix(line, "* ESEARCH"):
		c.mu.Lock()
		n := c.searchMax
		c.mu.Unlock()
		if n > 0 {
			format := "%s (MODSEQ %d)\r\n"
			if strings.HasPrefix(line, "* ESEARCH") {
				format = "%s MODSEQ %d\r\n"
			}
			line = fmt.Sprintf(format, strings.TrimRight(line, "\r\n"), n)
		}
	case strings.HasPrefix(line, "* ENABLED") && c.enableAdd:
		line = strings.TrimRight(line, "\r\n") + " CONDSTORE\r\n"
	case strings.HasPrefix(line, "* STATUS ") && c.statusHighest != "" && strings.HasSuffix(line, ")\r\n"):
		mb, err := f.sess.user.mailbox(c.statusHighest)
		if err != nil {
			return line
		}
		mb.mu.Lock()
		n := mb.modSeq
		mb.mu.Unlock()
		sep := " "
		if strings.HasSuffix(line, "()\r\n") {
			sep = ""
		}
		line = fmt.Sprintf("%s%sHIGHESTMODSEQ %d)\r\n", line[:len(line)-3], sep, n)
	case strings.HasPrefix(line, "* "):
		num, rest, ok := strings.Cut(line[2:], " ")
		if !ok || !strings.HasPrefix(rest, "FETCH (") {
			return line
		}
		seq, err := strconv.ParseUint(num, 10, 32)
		if err != nil {
			return line
		}
		c.mu.Lock()
		ms, ok := c.seqModSeq[uint32(seq)]
		c.mu.Unlock()
		if !ok && c.enabled {
			ms, ok = f.unsolicitedModSeq(rest)
		}
		if ok {
			line = fmt.Sprintf("* %d FETCH (MODSEQ (%d) %s", seq, ms, rest[len("FETCH ("):])
		}
	}
	return line
}

// unsolicitedModSeq finds the mod-sequence of the message of an unsolicited FETCH response
// ("FETCH (UID n FLAGS (…))", as imapserver's UpdateWriter writes a flag change) by its UID.
func (f *imapFront) unsolicitedModSeq(resp string) (uint64, bool) {
	rest, ok := strings.CutPrefix(resp, "FETCH (UID ")
	sel := f.selected()
	if !ok || sel == nil {
		return 0, false
	}
	end := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
	if end <= 0 {
		return 0, false
	}
	uid, err := strconv.ParseUint(rest[:end], 10, 32)
	if err != nil {
		return 0, false
	}
	mb := sel.mb
	mb.mu.Lock()
	defer mb.mu.Unlock()
	for _, m := range mb.msgs {
		if uint64(m.UID) == uid {
			return m.ModSeq, true
		}
	}
	return 0, false
}

var errBadModSeq = errors.New("imap: invalid mod-sequence")

// searchTokens splits SEARCH arguments at the top level: atoms, quoted strings and
// parenthesised groups.
func searchTokens(args string) []string {
	var toks []string
	for i := 0; i < len(args); {
		switch args[i] {
		case ' ':
			i++
			continue
		case '"':
			j := i + 1
			for ; j < len(args) && args[j] != '"'; j++ {
				if args[j] == '\\' {
					j++
				}
			}
			j = min(j+1, len(args))
			toks = append(toks, args[i:j])
			i = j
		case '(':
			depth, j := 0, i
			for ; j < len(args); j++ {
				if args[j] == '(' {
					depth++
				} else if args[j] == ')' {
					if depth--; depth == 0 {
						break
					}
				}
			}
			j = min(j+1, len(args))
			toks = append(toks, args[i:j])
			i = j
		default:
			j := strings.IndexByte(args[i:], ' ')
			if j < 0 {
				j = len(args) - i
			}
			toks = append(toks, args[i:i+j])
			i += j
		}
	}
	return toks
}

// searchFilter is the SEARCH MODSEQ of the command in flight (0: none).
func (c *condState) searchFilter() uint64 { return c.searchModSeq }

// reportSearchModSeq notes the mod-sequence of a message SEARCH found.
func (c *condState) reportSearchModSeq(n uint64) {
	c.mu.Lock()
	c.searchMax = max(c.searchMax, n)
	c.mu.Unlock()
}
