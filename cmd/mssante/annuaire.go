package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mssante/mssante/internal/annuaire"
	"github.com/mssante/mssante/internal/annuaire/fhir"
	"github.com/mssante/mssante/internal/annuaire/ldapdir"
	"github.com/mssante/mssante/internal/config"
)

// defaultFHIRURL is the public Annuaire Santé FHIR API (ecosystem facts §3c).
const defaultFHIRURL = "https://gateway.api.esante.gouv.fr/fhir/v2"

func init() {
	register(&command{
		name:    "annuaire import",
		summary: "import the Annuaire Santé MSSanté extraction file into the local index",
		usage:   "annuaire import FILE|ZIP|URL [--data-dir DIR] [--force]",
		example: "mssante annuaire import Extraction_Correspondance_MSSante.zip",
		flags: func(fs *flag.FlagSet) runFunc {
			conf := useConfig(fs, "data_dir")
			force := fs.Bool("force", false, "download a URL even when it has not changed")
			quiet := fs.Bool("q", false, "no progress on stderr")
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				if len(args) != 1 {
					return usagef("one FILE, ZIP or URL is required")
				}
				cfg, err := conf()
				if err != nil {
					return err
				}
				opts := &annuaire.ImportOptions{Force: *force}
				if !*quiet {
					p := newProgress(env.stderr)
					opts.Progress = p.update
					defer p.done()
				}
				res, err := annuaire.Import(ctx, args[0], cfg.DataDir, opts)
				if errors.Is(err, annuaire.ErrNotExtraction) {
					return fmt.Errorf("ce fichier n'est pas l'extraction des BAL MSSanté de l'Annuaire Santé (Extraction_Correspondance_MSSante, 31 colonnes séparées par |) ; l'index actuel est conservé : %w", err)
				}
				if err != nil {
					return fmt.Errorf("import échoué, l'index actuel est conservé : %w", err)
				}
				return writeJSON(env.stdout, res)
			}
		},
	})
	register(&command{
		name:    "annuaire search",
		summary: "search MSSanté addresses in the Annuaire Santé (local index, FHIR, LDAP)",
		usage:   "annuaire search QUERY [--type PER|ORG] [--profession P] [--department D] [--limit N] [--source local|fhir|ldap,…]",
		example: "mssante annuaire search 'dupont cardio' --type PER --limit 5",
		flags: func(fs *flag.FlagSet) runFunc {
			typ := fs.String("type", "", "mailbox `type`: PER or ORG")
			profession := fs.String("profession", "", "profession `code or label` (10, Médecin…)")
			dept := fs.String("department", "", "department `code` (75, 2A, 974…)")
			limit := fs.Int("limit", 20, "maximum `results`")
			conf := useConfig(fs, "data_dir", "annuaire.source", "annuaire.fhir.url", "annuaire.fhir.api_key_file",
				"annuaire.ldap.url", "annuaire.ldap.base_dn", "annuaire.ldap.bind_dn", "annuaire.ldap.bind_password_file",
				"annuaire.ldap.filter", "annuaire.ldap.attributes")
			timeout := fs.Duration("timeout", 10*time.Second, "`timeout` of a remote search")
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				if *typ != "" && *typ != annuaire.TypePER && *typ != annuaire.TypeORG &&
					*typ != annuaire.TypeAPP && *typ != annuaire.TypeCAB {
					return usagef("--type must be PER, ORG, APP or CAB")
				}
				if *limit < 1 {
					return usagef("--limit must be at least 1")
				}
				q := annuaire.Query{Text: strings.Join(args, " "), Type: *typ, Profession: *profession,
					Department: *dept, Limit: *limit}
				if strings.TrimSpace(q.Text) == "" && q.Type == "" && q.Profession == "" && q.Department == "" {
					return usagef("a QUERY or a filter is required")
				}
				cfg, err := conf()
				if err != nil {
					return err
				}
				src, closeFn, err := buildSources(cfg.Annuaire.Source, cfg.DataDir, &remoteOptions{cfg: cfg.Annuaire, timeout: *timeout})
				if err != nil {
					return err
				}
				defer closeFn()
				entries, err := src.Search(ctx, q)
				if errors.Is(err, annuaire.ErrNoIndex) {
					err = fmt.Errorf("aucun index local de l'Annuaire Santé : l'importer avec « mssante annuaire import FICHIER|ZIP|URL » (%w)", err)
				}
				if errors.Is(err, fhir.ErrUnauthorized) {
					err = fmt.Errorf("%w (clé ESANTE-API-KEY refusée ou absente : --fhir-api-key-file FICHIER ou MSSANTE_FHIR_API_KEY)", err)
				}
				for _, e := range entries {
					if werr := writeJSONLine(env.stdout, e); werr != nil {
						return werr
					}
				}
				if err != nil && len(entries) > 0 {
					// Partial results: print them, report the failing sources, exit 1.
					return fmt.Errorf("some sources failed: %w", err)
				}
				return err
			}
		},
	})
}

// remoteOptions configure the FHIR and LDAP sources.
type remoteOptions struct {
	cfg     config.Annuaire
	timeout time.Duration
}

// buildSources returns the Source named by list ("local", "fhir", "ldap", comma-separated; merged
// when several) and a function releasing it.
func buildSources(list, dataDir string, remote *remoteOptions) (annuaire.Source, func(), error) {
	o, err := openSources(list, dataDir, remote, false)
	if err != nil {
		return nil, nil, err
	}
	switch len(o.srcs) {
	case 0:
		return nil, nil, usagef("--source names no source")
	case 1:
		return o.srcs[0], o.close, nil
	}
	return annuaire.Merge(o.srcs...), o.close, nil
}

// openedSources are the directory sources of a --source list, in its order.
type openedSources struct {
	names []string
	srcs  []annuaire.Source // NamedSource of each name
	local *annuaire.Index   // the local index when listed (and present)
	// missingLocal is the path of the local index listed but not imported (skipMissingLocal).
	missingLocal string
	close        func() // releases them
}

// openSources opens the sources named by list (comma-separated, duplicates ignored). With
// skipMissingLocal, "local" is left out when no index was imported (names tells what is kept).
func openSources(list, dataDir string, remote *remoteOptions, skipMissingLocal bool) (*openedSources, error) {
	o := &openedSources{}
	var closers []func()
	o.close = func() {
		for _, c := range closers {
			c()
		}
	}
	seen := map[string]bool{}
	for _, name := range strings.Split(list, ",") {
		name = strings.ToLower(strings.TrimSpace(name))
		if name == "" || seen[name] {
			continue
		}
		seen[name] = true
		var s annuaire.Source
		switch name {
		case "local":
			p := filepath.Join(dataDir, annuaire.IndexFile)
			if skipMissingLocal && !webFileExists(p) {
				o.missingLocal = p
				continue
			}
			x := annuaire.OpenIndex(p)
			closers = append(closers, func() { _ = x.Close() })
			s, o.local = x, x
		case "fhir", "ldap":
			var err error
			if s, err = remoteSource(name, remote); err != nil {
				o.close()
				return nil, fmt.Errorf("annuaire source %s: %w", name, err)
			}
		default:
			o.close()
			return nil, usagef("unknown source %q (local, fhir, ldap)", name)
		}
		o.names = append(o.names, name)
		o.srcs = append(o.srcs, annuaire.NamedSource(name, s))
	}
	return o, nil
}

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

// secretFrom reads a secret from a file (trailing newline trimmed), else takes the one of the
// environment.
func secretFrom(file string, fromEnv config.Secret) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("read secret: %w", err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	return fromEnv.Reveal(), nil
}

// progress draws the import progress on a terminal, or logs a line every few seconds otherwise.
type progress struct {
	w        io.Writer
	tty      bool
	start    time.Time
	size     int64 // bytes to download, when known
	total    int64 // entries to index
	lastLine time.Time
	drawn    bool
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w, start: time.Now()}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

func (p *progress) update(phase string, n int64) {
	switch phase {
	case "size":
		p.size = n
		return
	case "total":
		p.total = n
		return
	}
	now := time.Now()
	secs := now.Sub(p.start).Seconds()
	rate := float64(n) / max(secs, 0.001)
	var line string
	switch phase {
	case "download":
		line = fmt.Sprintf("téléchargement %s", humanBytes(n))
		if p.size > 0 {
			line += fmt.Sprintf(" / %s %s", humanBytes(p.size), bar(float64(n)/float64(p.size)))
		}
	case "finish":
		line = fmt.Sprintf("finalisation de l'index (%d adresses)…", n)
	default:
		label := map[string]string{"read": "lecture", "index": "indexation"}[phase]
		line = fmt.Sprintf("%s %d lignes, %.0f lignes/s", label, n, rate)
		if phase == "index" && p.total > 0 {
			line += " " + bar(float64(n)/float64(p.total))
		}
	}
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
		p.drawn = true
		return
	}
	if now.Sub(p.lastLine) >= 5*time.Second || phase == "finish" {
		p.lastLine = now
		fmt.Fprintf(p.w, "mssante annuaire import: %s\n", line)
	}
}

func (p *progress) done() {
	if p.tty && p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

func bar(frac float64) string {
	frac = min(max(frac, 0), 1)
	const width = 30
	n := int(frac * width)
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", width-n) + fmt.Sprintf("] %3.0f%%", frac*100)
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f Mo", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f ko", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d o", n)
}

// remoteSource builds the FHIR or LDAP source from the configuration.
func remoteSource(name string, r *remoteOptions) (annuaire.Source, error) {
	switch name {
	case "fhir":
		f := r.cfg.FHIR
		key, err := secretFrom(f.APIKeyFile, f.APIKey)
		if err != nil {
			return nil, err
		}
		return fhir.New(fhir.Options{BaseURL: firstNonEmpty(f.URL, defaultFHIRURL), APIKey: key, Timeout: r.timeout}), nil
	case "ldap":
		l := r.cfg.LDAP
		if l.URL == "" {
			return nil, usagef("--ldap-url (or MSSANTE_LDAP_URL, annuaire.ldap.url) is required for --source ldap")
		}
		pw, err := secretFrom(l.BindPasswordFile, l.BindPassword)
		if err != nil {
			return nil, err
		}
		attrs := map[string]string{}
		for _, kv := range l.Attributes {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || strings.TrimSpace(k) == "" {
				return nil, usagef("--ldap-attr %q: want field=attribute", kv)
			}
			attrs[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
		return ldapdir.New(ldapdir.Options{
			URL:            l.URL,
			BaseDN:         l.BaseDN,
			BindDN:         l.BindDN,
			BindPassword:   pw,
			FilterTemplate: l.Filter,
			Attributes:     attrs,
			Timeout:        r.timeout,
		}), nil
	}
	return nil, usagef("unknown source %q", name)
}
