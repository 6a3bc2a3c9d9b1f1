package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/mssante/mssante/xdm"
)

// xdmDocJSON is one document in the JSON of "xdm inspect", "xdm pack" and "xdm unpack".
type xdmDocJSON struct {
	Path             string   `json:"path"`
	PatientID        string   `json:"patient_id"`
	INS              string   `json:"ins"`
	OID              string   `json:"oid"`
	Code             string   `json:"code"`
	DisplayName      string   `json:"display_name"`
	Title            string   `json:"title"`
	Level            string   `json:"level"`
	Hash             string   `json:"hash"`
	Size             int64    `json:"size"`
	CreationTime     string   `json:"creation_time"`
	ServiceStartTime string   `json:"service_start_time"`
	MimeType         string   `json:"mime_type"`
	ClassCode        xdm.Code `json:"class_code"`
	FormatCode       xdm.Code `json:"format_code"`
	Warnings         []string `json:"warnings"`
}

// xdmSubmissionJSON is the submission set in the JSON of the xdm commands.
type xdmSubmissionJSON struct {
	ID                 string       `json:"id"`
	UniqueID           string       `json:"unique_id"`
	SourceID           string       `json:"source_id"`
	PatientID          string       `json:"patient_id"`
	INS                string       `json:"ins"`
	OID                string       `json:"oid"`
	SubmissionTime     string       `json:"submission_time"`
	ContentType        xdm.Code     `json:"content_type"`
	Authors            []xdm.Author `json:"authors"`
	IntendedRecipients []string     `json:"intended_recipients"`
}

// xdmJSON is the output of the xdm commands.
type xdmJSON struct {
	Archive    string            `json:"archive,omitempty"`
	Directory  string            `json:"directory,omitempty"`
	Bytes      int64             `json:"bytes,omitempty"`
	Submission xdmSubmissionJSON `json:"submission_set"`
	Documents  []xdmDocJSON      `json:"documents"`
	Files      []string          `json:"files,omitempty"`
	Warnings   []string          `json:"warnings"`
	Errors     []string          `json:"errors,omitempty"`
}

func init() {
	register(&command{
		name:    "xdm pack",
		summary: "package CDA documents of one patient as an IHE XDM archive",
		usage:   "xdm pack -o OUT.zip [--to ADDRESS]… [--source-id OID] CDA…",
		example: "mssante xdm pack -o IHE_XDM.zip cr.xml",
		flags: func(fs *flag.FlagSet) runFunc {
			out := fs.String("o", "", "output `file` (required)")
			var to stringList
			fs.Var(&to, "to", "intended recipient mail `address` (repeatable)")
			source := fs.String("source-id", "", "sourceId `OID` of the sending organisation (default "+xdm.DefaultSourceID+")")
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				if *out == "" || len(args) == 0 {
					return usagef("-o and at least one CDA are required")
				}
				return xdmPack(env, *out, args, &xdm.BuildOptions{Recipients: to, SourceID: *source})
			}
		},
	})
	register(&command{
		name:    "xdm unpack",
		summary: "check an IHE XDM archive and extract it into a folder",
		usage:   "xdm unpack [--force] ZIP DIR",
		example: "mssante xdm unpack IHE_XDM.zip recu/",
		flags: func(fs *flag.FlagSet) runFunc {
			force := fs.Bool("force", false, "overwrite files that already exist in DIR")
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				if len(args) != 2 {
					return usagef("ZIP and DIR expected")
				}
				return xdmUnpack(env, args[0], args[1], *force)
			}
		},
	})
	register(&command{
		name:    "xdm inspect",
		summary: "show the submission set and the documents of an IHE XDM archive (patient INS…)",
		usage:   "xdm inspect ZIP",
		example: "mssante xdm inspect IHE_XDM.zip",
		flags: func(fs *flag.FlagSet) runFunc {
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				if len(args) != 1 {
					return usagef("one ZIP expected")
				}
				pkg, err := readXDMFile(args[0])
				if pkg == nil {
					return err
				}
				j := xdmToJSON(pkg, err)
				j.Archive = args[0]
				if werr := writeJSON(env.stdout, j); werr != nil {
					return werr
				}
				return err
			}
		},
	})
}

func readXDMFile(name string) (*xdm.Package, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	return xdm.Read(data, nil)
}

func xdmPack(env *cmdEnv, out string, inputs []string, opts *xdm.BuildOptions) error {
	var cdas [][]byte
	for _, in := range inputs {
		b, err := os.ReadFile(in)
		if err != nil {
			return err
		}
		cdas = append(cdas, b)
	}
	pkg, err := xdm.Build(cdas, opts)
	if err != nil {
		return err
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	n, err := pkg.WriteTo(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	j := xdmToJSON(pkg, nil)
	j.Archive, j.Bytes = out, n
	return writeJSON(env.stdout, j)
}

// xdmUnpack extracts every entry of a checked archive under dir. Entry names were refused by
// xdm.Read when unsafe; filepath.IsLocal checks them again before any write. An archive failing
// its integrity checks is extracted (for inspection) and the command exits 1.
func xdmUnpack(env *cmdEnv, zipName, dir string, force bool) error {
	pkg, rerr := readXDMFile(zipName)
	if pkg == nil {
		return rerr
	}
	files := map[string][]byte{"INDEX.HTM": pkg.Index, "README.TXT": pkg.Readme}
	j := xdmToJSON(pkg, rerr)
	j.Directory = dir
	for _, d := range pkg.Documents {
		files[d.Path] = d.Data
	}
	if pkg.Index == nil {
		delete(files, "INDEX.HTM")
	}
	if pkg.Readme == nil {
		delete(files, "README.TXT")
	}
	for _, f := range pkg.Other {
		files[f.Path] = f.Data
	}
	for name, data := range files {
		if !filepath.IsLocal(filepath.FromSlash(name)) {
			return fmt.Errorf("unsafe entry %q", name)
		}
		if err := writeNew(filepath.Join(dir, filepath.FromSlash(name)), data, force); err != nil {
			return err
		}
		j.Files = append(j.Files, name)
	}
	sort.Strings(j.Files)
	if err := writeJSON(env.stdout, j); err != nil {
		return err
	}
	return rerr
}

func writeNew(path string, data []byte, force bool) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, 0o644)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%s exists (use --force to overwrite)", path)
	}
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func xdmToJSON(pkg *xdm.Package, readErr error) xdmJSON {
	s := pkg.Submission
	j := xdmJSON{
		Submission: xdmSubmissionJSON{
			ID: s.ID, UniqueID: s.UniqueID, SourceID: s.SourceID, PatientID: s.PatientID,
			INS: s.INS.Matricule.String(), OID: string(s.INS.OID), SubmissionTime: s.SubmissionTime,
			ContentType: s.ContentType, Authors: nonNilAuthors(s.Authors), IntendedRecipients: nonNilStrings(s.IntendedRecipients),
		},
		Documents: []xdmDocJSON{},
		Warnings:  errorStrings(pkg.Warnings),
	}
	for _, d := range pkg.Documents {
		e := d.Entry
		dj := xdmDocJSON{
			Path: d.Path, PatientID: e.PatientID, INS: e.INS.Matricule.String(), OID: string(e.INS.OID),
			Code: e.TypeCode.Code, DisplayName: e.TypeCode.Display, Title: e.Title, Hash: e.Hash,
			Size: e.Size, CreationTime: e.CreationTime, ServiceStartTime: e.ServiceStartTime,
			MimeType: e.MimeType, ClassCode: e.ClassCode, FormatCode: e.FormatCode,
			Warnings: errorStrings(d.Warnings),
		}
		if d.CDA != nil {
			dj.Level = d.CDA.Level.String()
		}
		j.Documents = append(j.Documents, dj)
	}
	if readErr != nil {
		j.Errors = errorStrings(unjoin(readErr))
	}
	return j
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func errorStrings(errs []error) []string {
	out := make([]string, 0, len(errs))
	for _, e := range errs {
		out = append(out, e.Error())
	}
	return out
}

// nonNilStrings keeps a JSON list a list ([]) when it is empty.
func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func nonNilAuthors(a []xdm.Author) []xdm.Author {
	if a == nil {
		return []xdm.Author{}
	}
	return a
}
