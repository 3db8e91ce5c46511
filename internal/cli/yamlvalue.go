package cli

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"github.com/cnntrain/cnntrain/internal/suggest"
	"gopkg.in/yaml.v3"
)

// valueError is a bad value in a config file: its line, the setting with
// the place inside it (normalize.mean[2]) and what is wrong, in plain words.
type valueError struct {
	line int
	path string
	msg  string
}

// at is e as the one line a user reads: file:line: setting: what is wrong.
func (e *valueError) at(file string) error {
	return fmt.Errorf("%s:%d: %s: %s", file, e.line, e.path, e.msg)
}

// maxAliasDepth bounds how many YAML aliases a value may go through: an
// anchor that contains itself would otherwise be followed forever.
const maxAliasDepth = 16

// decodeValue decodes n into v, a Config field (or an extra key's
// variable), by v's type. It is stricter than yaml.v3's decoding, which
// ignores unknown keys in a nested mapping and reports a bad value as
// "cannot unmarshal !!seq into float32", once per element: it refuses an
// unknown key, a fraction or a too-large number for a whole one, and says
// what is wrong with the first bad value in plain words.
func decodeValue(n *yaml.Node, v reflect.Value, path string) *valueError {
	return decodeAt(n, v, path, 0)
}

func decodeAt(n *yaml.Node, v reflect.Value, path string, aliases int) *valueError {
	bad := func(format string, args ...any) *valueError {
		return &valueError{n.Line, path, fmt.Sprintf(format, args...)}
	}
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil || aliases >= maxAliasDepth {
			return bad("an alias that leads to no value")
		}
		return decodeAt(n.Alias, v, path, aliases+1)
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return bad("no value (give one, or leave the key out for the default)")
	}
	switch v.Kind() {
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			return bad("%s where a name belongs", describeNode(n))
		}
		v.SetString(n.Value)
	case reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode {
			return bad("%s where true or false belongs", describeNode(n))
		}
		if n.Decode(&b) != nil {
			return bad("want true or false, got %q", n.Value)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if n.Kind != yaml.ScalarNode {
			return bad("%s where a whole number belongs", describeNode(n))
		}
		return decodeWhole(n, v, bad)
	case reflect.Float32, reflect.Float64:
		if n.Kind != yaml.ScalarNode {
			return bad("%s where a number belongs", describeNode(n))
		}
		return decodeFloat(n, v, bad)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return bad("%s where a list belongs", describeNode(n))
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		var first *valueError
		more := 0
		for i, e := range n.Content {
			if err := decodeAt(e, s.Index(i), fmt.Sprintf("%s[%d]", path, i), aliases); err != nil {
				if first == nil {
					first = err
				} else {
					more++
				}
			}
		}
		if first != nil {
			// One line for the list, not one per bad element.
			if more > 0 {
				first.msg += fmt.Sprintf(" (and %d more in %s)", more, path)
			}
			return first
		}
		v.Set(s)
	case reflect.Pointer:
		elem := reflect.New(v.Type().Elem())
		if err := decodeAt(n, elem.Elem(), path, aliases); err != nil {
			return err
		}
		v.Set(elem)
	case reflect.Struct:
		return decodeStruct(n, v, path, aliases, bad)
	default:
		return bad("cannot be set in a config file")
	}
	return nil
}

// decodeStruct decodes a mapping into struct v by its fields' yaml keys,
// refusing a key it does not have and a key given twice.
func decodeStruct(n *yaml.Node, v reflect.Value, path string, aliases int, bad func(string, ...any) *valueError) *valueError {
	t := v.Type()
	keys := make([]string, t.NumField())
	for i := range keys {
		keys[i] = yamlKey(t.Field(i))
	}
	if n.Kind != yaml.MappingNode {
		return bad("%s where a mapping of %s belongs", describeNode(n), strings.Join(keys, " and "))
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		field := -1
		for j, key := range keys {
			if key == k.Value {
				field = j
			}
		}
		if field < 0 {
			return &valueError{k.Line, path, fmt.Sprintf("unknown key %q%s (known: %s)", k.Value, suggest.Hint(k.Value, keys), strings.Join(keys, ", "))}
		}
		if seen[k.Value] {
			return &valueError{k.Line, path, fmt.Sprintf("%q is set twice", k.Value)}
		}
		seen[k.Value] = true
		if err := decodeAt(val, v.Field(field), path+"."+k.Value, aliases); err != nil {
			return err
		}
	}
	return nil
}

// wholeNumber is a decimal integer as YAML writes one, of any size.
var wholeNumber = regexp.MustCompile(`^[-+]?[0-9][0-9_]*$`)

// decodeWhole decodes an integer into v, saying when it is negative for an
// unsigned setting or too large for v (YAML reads an integer past 64 bits
// as a float, which must not become "want a whole number").
func decodeWhole(n *yaml.Node, v reflect.Value, bad func(string, ...any) *valueError) *valueError {
	text := n.Value
	negative := strings.HasPrefix(text, "-")
	unsigned := v.Kind() >= reflect.Uint && v.Kind() <= reflect.Uintptr
	bits := v.Type().Bits()
	if n.ShortTag() != "!!int" && !wholeNumber.MatchString(text) {
		return bad("want a whole number, got %q", text)
	}
	switch {
	case unsigned && negative:
		return bad("%s is negative; want a whole number ≥ 0", text)
	case unsigned:
		var u uint64
		if n.ShortTag() == "!!int" && n.Decode(&u) == nil && !v.OverflowUint(u) {
			v.SetUint(u)
			return nil
		}
		return bad("%s is too large (at most %d)", text, uint64(math.MaxUint64)>>(64-bits))
	}
	var i int64
	if n.ShortTag() == "!!int" && n.Decode(&i) == nil && !v.OverflowInt(i) {
		v.SetInt(i)
		return nil
	}
	if negative {
		return bad("%s is too small (at least %d)", text, int64(math.MinInt64)>>(64-bits))
	}
	return bad("%s is too large (at most %d)", text, int64(math.MaxInt64)>>(64-bits))
}

// decodeFloat decodes a number into v, saying when it is out of v's range
// (YAML reads 1e309 as a string, which must not become "want a number").
func decodeFloat(n *yaml.Node, v reflect.Value, bad func(string, ...any) *valueError) *valueError {
	text := n.Value
	largest := math.MaxFloat64
	if v.Kind() == reflect.Float32 {
		largest = math.MaxFloat32
	}
	if tag := n.ShortTag(); tag == "!!float" || tag == "!!int" {
		var f float64
		if n.Decode(&f) == nil {
			if !math.IsInf(f, 0) && math.Abs(f) > largest {
				return bad("%s is out of range (at most ±%g)", text, largest)
			}
			v.SetFloat(f)
			return nil
		}
	}
	if _, err := strconv.ParseFloat(strings.ReplaceAll(text, "_", ""), 64); errors.Is(err, strconv.ErrRange) {
		return bad("%s is out of range (at most ±%g)", text, largest)
	}
	return bad("want a number, got %q", text)
}

// describeNode says what kind of YAML value n is, for "a list where a name
// belongs".
func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	}
	return strconv.Quote(n.Value)
}

// yamlSyntaxLine is the line yaml.v3 puts in a syntax error's text.
var yamlSyntaxLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlSyntaxError is a YAML parse error as file:line: not valid YAML: what,
// without the library's "yaml: line N:" prefix.
func yamlSyntaxError(path string, err error) error {
	msg := err.Error()
	if m := yamlSyntaxLine.FindStringSubmatch(msg); m != nil {
		return usagef("%s:%s: not valid YAML: %s", path, m[1], m[2])
	}
	return usagef("%s: not valid YAML: %s", path, strings.TrimPrefix(msg, "yaml: "))
}
