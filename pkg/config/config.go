// Package config reads OpenStack-style INI configuration files the way oslo.config does: files given with
// --config-file (repeatable, later ones win) and every *.conf in --config-dir (alphabetical, after the files).
// Services read their options with typed getters that fall back to Trove's defaults; conversion problems are
// collected and reported once by Err, so a service fails at start with every bad option named.
package config

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/ini.v1"
)

// File is the merged view of all loaded configuration files.
type File struct {
	cfg   *ini.File
	paths []string
	errs  []error
}

// Paths collects the --config-file and --config-dir flags of a command line.
type Paths struct {
	Files []string
	Dirs  []string
}

type multi struct{ v *[]string }

func (m multi) String() string     { return strings.Join(*m.v, ",") }
func (m multi) Set(s string) error { *m.v = append(*m.v, s); return nil }

// RegisterFlags adds --config-file and --config-dir (both repeatable) to fs.
func RegisterFlags(fs *flag.FlagSet) *Paths {
	p := &Paths{}
	fs.Var(multi{&p.Files}, "config-file", "path to a configuration file (repeatable; later files override earlier ones)")
	fs.Var(multi{&p.Dirs}, "config-dir", "directory whose *.conf files are read in alphabetical order (repeatable)")
	return p
}

// FromCommandLine parses a service's command line (--config-file, --config-dir) and loads what it names; with
// neither flag it loads defaults (for the control plane /etc/trove/trove.conf, as Trove's services do).
func FromCommandLine(name string, args []string, defaults Paths) (*File, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	p := RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if len(p.Files) == 0 && len(p.Dirs) == 0 {
		p = &defaults
	}
	return Load(*p)
}

// Load reads the files, then the *.conf files of each directory. A named file that does not exist is an error;
// an empty Paths yields an empty configuration (all defaults).
func Load(p Paths) (*File, error) {
	var all []string
	for _, f := range p.Files {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("config file %s: %w", f, err)
		}
		all = append(all, f)
	}
	for _, d := range p.Dirs {
		matches, err := filepath.Glob(filepath.Join(d, "*.conf"))
		if err != nil {
			return nil, fmt.Errorf("config dir %s: %w", d, err)
		}
		sort.Strings(matches)
		all = append(all, matches...)
	}
	return LoadFiles(all...)
}

// LoadFiles reads the given files in order; later values override earlier ones.
func LoadFiles(paths ...string) (*File, error) {
	cfg := ini.Empty(ini.LoadOptions{AllowPythonMultilineValues: true, SpaceBeforeInlineComment: true, Insensitive: false})
	for _, p := range paths {
		if err := cfg.Append(p); err != nil {
			return nil, fmt.Errorf("reading config file %s: %w", p, err)
		}
	}
	return &File{cfg: cfg, paths: paths}, nil
}

// Parse reads configuration from text (tests and generated configs).
func Parse(text string) (*File, error) {
	cfg, err := ini.LoadSources(ini.LoadOptions{AllowPythonMultilineValues: true, SpaceBeforeInlineComment: true}, []byte(text))
	if err != nil {
		return nil, fmt.Errorf("parsing config: %w", err)
	}
	return &File{cfg: cfg}, nil
}

// Sources lists the files that were read, in order.
func (f *File) Sources() []string { return f.paths }

func (f *File) raw(section, key string) (string, bool) {
	if section == "" {
		section = "DEFAULT"
	}
	sec, err := f.cfg.GetSection(section)
	if err != nil || !sec.HasKey(key) {
		return "", false
	}
	return strings.TrimSpace(sec.Key(key).String()), true
}

// Has reports whether the option is set in any file.
func (f *File) Has(section, key string) bool { _, ok := f.raw(section, key); return ok }

// String returns the option or def when unset.
func (f *File) String(section, key, def string) string {
	if v, ok := f.raw(section, key); ok {
		return v
	}
	return def
}

// Bool parses oslo.config booleans (true/false/yes/no/on/off/1/0, case-insensitive).
func (f *File) Bool(section, key string, def bool) bool {
	v, ok := f.raw(section, key)
	if !ok || v == "" {
		return def
	}
	switch strings.ToLower(v) {
	case "true", "yes", "on", "1":
		return true
	case "false", "no", "off", "0":
		return false
	}
	f.errs = append(f.errs, fmt.Errorf("[%s] %s = %q: not a boolean (use true or false)", section, key, v))
	return def
}

// Int parses an integer option.
func (f *File) Int(section, key string, def int) int {
	v, ok := f.raw(section, key)
	if !ok || v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		f.errs = append(f.errs, fmt.Errorf("[%s] %s = %q: not an integer", section, key, v))
		return def
	}
	return n
}

// Float parses a floating-point option.
func (f *File) Float(section, key string, def float64) float64 {
	v, ok := f.raw(section, key)
	if !ok || v == "" {
		return def
	}
	n, err := strconv.ParseFloat(v, 64)
	if err != nil {
		f.errs = append(f.errs, fmt.Errorf("[%s] %s = %q: not a number", section, key, v))
		return def
	}
	return n
}

// Seconds reads an option expressed in (possibly fractional) seconds, as Trove's timeouts are.
func (f *File) Seconds(section, key string, def float64) time.Duration {
	return time.Duration(f.Float(section, key, def) * float64(time.Second))
}

// List reads a comma-separated list option; empty items are dropped.
func (f *File) List(section, key string, def []string) []string {
	v, ok := f.raw(section, key)
	if !ok {
		return def
	}
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Keys lists the option names set in a section, in file order (for free-form sections such as
// [local_images]); an absent section has none.
func (f *File) Keys(section string) []string {
	sec, err := f.cfg.GetSection(section)
	if err != nil {
		return nil
	}
	return sec.KeyStrings()
}

// Sections lists the section names present in the files.
func (f *File) Sections() []string { return f.cfg.SectionStrings() }

// Err reports every option that could not be converted, or nil.
func (f *File) Err() error { return errors.Join(f.errs...) }
