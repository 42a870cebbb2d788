package manage

import (
	"context"
	"fmt"
	"io"
	"strings"
)

// UsageError is a command-line mistake: the message plus the usage of the command involved; exit status 2.
type UsageError struct {
	Msg   string
	Usage string
}

func (e *UsageError) Error() string { return e.Msg }

// command describes one subcommand the way Trove's argparse parser does.
type command struct {
	name        string
	help        string
	positionals []arg
	options     []arg // long options taking a value
	run         func(m *Manager, ctx context.Context, a args) error
	// altPositionals, when set, is a second accepted positional form (used for the id-based flavor form).
	altPositionals []arg
}

type arg struct {
	name string // positional NAME or option --name
	help string
}

// metavar is the option's value placeholder: --image-tags → IMAGE_TAGS.
func (o arg) metavar() string {
	return strings.ToUpper(strings.ReplaceAll(strings.TrimLeft(o.name, "-"), "-", "_"))
}

type args struct {
	pos  map[string]string
	opts map[string]string
	alt  bool // the alternative positional form was used
}

func (a args) opt(name string) string { return a.opts[name] }

func (c *command) usage() string {
	words := []string{"trove-manage", "[--config-file PATH]", c.name}
	for _, o := range c.options {
		words = append(words, "["+o.name+" "+o.metavar()+"]")
	}
	for _, p := range c.positionals {
		words = append(words, p.name)
	}
	out := "usage: " + wrapWords(words, len("usage: trove-manage ")) + "\n"
	if c.altPositionals != nil {
		alt := []string{"trove-manage", "[--config-file PATH]", c.name}
		for _, p := range c.altPositionals {
			alt = append(alt, p.name)
		}
		out += "   or: " + wrapWords(alt, len("usage: trove-manage ")) + "\n"
	}
	return out
}

func (c *command) writeHelp(w io.Writer) {
	fmt.Fprint(w, c.usage())
	fmt.Fprintf(w, "\n%s\n", wrap(c.help, 0))
	if len(c.positionals) > 0 {
		fmt.Fprint(w, "\npositional arguments:\n")
		for _, p := range c.positionals {
			item(w, p.name, p.help)
		}
	}
	if c.altPositionals != nil {
		fmt.Fprint(w, "\nalternative form:\n")
		for _, p := range c.altPositionals {
			item(w, p.name, p.help)
		}
	}
	fmt.Fprint(w, "\noptions:\n")
	item(w, "-h, --help", "show this help message and exit")
	for _, o := range c.options {
		item(w, o.name+" "+o.metavar(), o.help)
	}
}

const helpWidth, helpColumn = 100, 32

// item prints one "  name   description" help line, the description wrapped under its column.
func item(w io.Writer, name, help string) {
	if len(name) > helpColumn-4 {
		fmt.Fprintf(w, "  %s\n%s%s\n", name, strings.Repeat(" ", helpColumn), wrap(help, helpColumn))
		return
	}
	fmt.Fprintf(w, "  %-*s%s\n", helpColumn-2, name, wrap(help, helpColumn))
}

// wrap breaks text into lines of at most helpWidth columns, continuation lines indented by indent.
func wrap(text string, indent int) string { return wrapWords(strings.Fields(text), indent) }

func wrapWords(words []string, indent int) string {
	var b strings.Builder
	col := indent
	for i, word := range words {
		if i > 0 && col+1+len(word) > helpWidth {
			b.WriteString("\n" + strings.Repeat(" ", indent))
			col = indent
		} else if i > 0 {
			b.WriteByte(' ')
			col++
		}
		b.WriteString(word)
		col += len(word)
	}
	return b.String()
}

// parse reads the subcommand's arguments: options (--name value or --name=value) anywhere, positionals in
// order; "--" ends option parsing (so an empty IMAGE_ID ” or a value starting with "-" can be given).
func (c *command) parse(argv []string) (args, error) {
	a := args{pos: map[string]string{}, opts: map[string]string{}}
	var pos []string
	known := map[string]bool{}
	for _, o := range c.options {
		known[o.name] = true
	}
	for i := 0; i < len(argv); i++ {
		s := argv[i]
		if s == "--" {
			pos = append(pos, argv[i+1:]...)
			break
		}
		if !strings.HasPrefix(s, "--") || s == "-" {
			pos = append(pos, s)
			continue
		}
		name, val, hasVal := strings.Cut(s, "=")
		if !known[name] {
			return a, &UsageError{Msg: fmt.Sprintf("unrecognized argument: %s", name), Usage: c.usage()}
		}
		if !hasVal {
			if i+1 >= len(argv) {
				return a, &UsageError{Msg: fmt.Sprintf("argument %s: expected one argument", name), Usage: c.usage()}
			}
			i++
			val = argv[i]
		}
		a.opts[name] = val
	}
	want := c.positionals
	if c.altPositionals != nil && len(pos) == len(c.altPositionals) {
		want, a.alt = c.altPositionals, true
	}
	if len(pos) < len(want) {
		var missing []string
		for _, p := range want[len(pos):] {
			missing = append(missing, p.name)
		}
		return a, &UsageError{Msg: "the following arguments are required: " + strings.Join(missing, ", "), Usage: c.usage()}
	}
	if len(pos) > len(want) {
		return a, &UsageError{Msg: "unrecognized arguments: " + strings.Join(pos[len(want):], " "), Usage: c.usage()}
	}
	for i, p := range want {
		a.pos[p.name] = pos[i]
	}
	return a, nil
}
