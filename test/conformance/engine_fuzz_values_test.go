package conformance

import (
	"encoding/json"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// Values for the fuzz's integer, cron and list fields (pachd_max_in_flight, rotation_schedule,
// and the array fields the engine's OpenAPI document declares), and what the engine must refuse
// of them.

func (f *fuzzRun) rotationValidValue(kind fieldKind) interface{} {
	switch kind {
	case kInt:
		return pick(f.rng, []interface{}{json.Number("0"), json.Number("1"), json.Number("2"), json.Number("8"), "3", " 4 ", "+2"})
	case kCron:
		return pick(f.rng, []interface{}{"", "* * * * *", "0 3 * * *", "*/15 * * * 1-5", "0 0 1 JAN *", "30 2 * * sun",
			"0 0 29 2 *", "5,35 */6 1-15 * *", "0 12 * * 7", "0-59/20 0-23/4 * * *"})
	default:
		return pick(f.rng, []interface{}{"a", "a,b", []interface{}{"a"}, []interface{}{"a", "b"}, ""})
	}
}

// rotationTrickyValue: integers past what a JavaScript number holds exactly, fractions and
// words; cron expressions built to break a parser (huge steps, a 61st minute, ranges that run
// backwards, names where numbers go, dates that never come, unicode digits and spaces, six
// fields, macros, very long lists); lists of the wrong things.
func (f *fuzzRun) rotationTrickyValue(kind fieldKind) interface{} {
	switch kind {
	case kInt:
		return pick(f.rng, []interface{}{json.Number("-1"), json.Number("1.5"), json.Number("1e3"), json.Number("9007199254740993"),
			json.Number("-9007199254740992"), json.Number("1e400"), "1.0", "0x10", "1_000", "٣", "２", "NaN", "Infinity", "", " ",
			"9007199254740993", "-0", "+", "1 2", true, math.MaxFloat64, json.Number("2147483648")})
	case kCron:
		return pick(f.rng, []interface{}{
			"*/99999999999999999999 * * * *", "*/0 * * * *", "*/9007199254740993 * * * *", "0/1000000 * * * *",
			"61 * * * *", "60 * * * *", "0 24 * * *", "0 0 32 * *", "0 0 0 * *", "0 0 * 13 *", "0 0 * 0 *", "0 0 * * 8",
			"59-0 * * * *", "5-1 * * * *", "* * * DEC-JAN *", "* * * * SAT-SUN", "* * 31 2 *", "0 0 30 2 *", "0 0 31 4 *",
			"0 0 31 4,6,9,11 *", "* * * * * *", "* * * *", "*", "", " ", "\t* * * * *\n", "@hourly", "@reboot", "L * * * *",
			"? * * * *", "0 0 ? * MON", "0 0 L * *", "0 0 * * 5L", "0 0 * * MON#2", "-1 * * * *", "1-2-3 * * * *", "*/ * * * *",
			"1- * * * *", "-5 * * * *", "*/-1 * * * *", "MON * * * *", "* JAN * * *", "* * * MONDAY *", "* * * jan-mar mon-fri",
			"٣ * * * *", "* * * * ７", "\u00a0* * * * *", "*\u3000* * * *", "* * * * *\x00", "*\u200b * * * *", "\u202e* * * * *",
			"0 0 1 1 * 2030", strings.Repeat("1,", 5000) + "1 * * * *", strings.Repeat("* ", 200), strings.Repeat("0", 300) + " * * * *",
			"00000000000000000000000000000061 * * * *", "1e1 * * * *", "0x1 * * * *", "+1 * * * *", "1.5 * * * *",
			"*,*,*,* * * * *", "0-59,0-59 * * * *", ",, * * * *", "0,,1 * * * *", "__proto__ * * * *", "constructor * * * *",
		})
	default:
		return pick(f.rng, []interface{}{[]interface{}{nil}, []interface{}{map[string]interface{}{}}, []interface{}{[]interface{}{"a"}},
			",,,", strings.Repeat("a,", 5000), []interface{}{true}})
	}
}

var jsDigits = regexp.MustCompile(`^[-+]?[0-9]+$`)

// notInt: a value the engine cannot read as an integer a JavaScript number holds exactly (a
// JSON number, or a string of digits with a sign at most).
func notInt(v interface{}) bool {
	var x float64
	switch v := v.(type) {
	case nil:
		return false
	case string:
		s := jsTrim(v)
		if !jsDigits.MatchString(s) {
			return true
		}
		fl, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return true
		}
		x = fl
	case json.Number:
		fl, err := strconv.ParseFloat(string(v), 64)
		if err != nil && !strings.Contains(err.Error(), "range") {
			return true
		}
		x = fl
	case float64:
		x = v
	case int:
		x = float64(v)
	default:
		return true
	}
	return math.IsInf(x, 0) || math.IsNaN(x) || x != math.Trunc(x) || math.Abs(x) > 1<<53-1
}

type cronField struct {
	name     string
	min, max int
	names    []string
}

var cronFields = []cronField{
	{"minute", 0, 59, nil}, {"hour", 0, 23, nil}, {"day of month", 1, 31, nil},
	{"month", 1, 12, []string{"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}},
	{"day of week", 0, 7, []string{"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}},
}

var cronItem = regexp.MustCompile(`^(\*|[0-9A-Za-z]+(?:-[0-9A-Za-z]+)?)(?:/([0-9]+))?$`)

// badCron says why a rotation_schedule the engine must refuse is not a standard 5-field cron
// expression: the wrong number of fields, an item that is not *, a value, a range or a step, a
// step of 0, a value out of its field's range, a range running backwards. Only for printable
// ASCII text (where JavaScript's and Go's ideas of white space agree); "" for anything it does
// not judge, which includes every expression that may be right. Dates that never come are
// refused by the engine too, but are not judged here.
func badCron(v interface{}) string {
	text, ok := v.(string)
	if !ok {
		return ""
	}
	for _, r := range text {
		if r > 0x7e || (r < 0x20 && r != '\t' && r != '\n' && r != '\r' && r != '\v' && r != '\f') {
			return ""
		}
	}
	if strings.TrimSpace(text) == "" {
		return "" // no schedule
	}
	parts := strings.Fields(text)
	if len(parts) != 5 {
		return strconv.Itoa(len(parts)) + " fields"
	}
	for i, part := range parts {
		field := cronFields[i]
		for _, item := range strings.Split(part, ",") {
			m := cronItem.FindStringSubmatch(item)
			if m == nil {
				return field.name + " item " + strconv.Quote(item)
			}
			if m[2] != "" {
				step, err := strconv.ParseFloat(m[2], 64)
				if err == nil && step < 1 {
					return field.name + " step 0"
				}
				if err != nil || step > 1<<53-1 {
					return field.name + " step " + m[2] + " past what a JavaScript number holds exactly"
				}
			}
			if m[1] == "*" {
				continue
			}
			bounds := strings.SplitN(m[1], "-", 2)
			values := make([]int, 0, 2)
			for _, b := range bounds {
				value, why := cronValue(b, field)
				if why != "" {
					return why
				}
				values = append(values, value)
			}
			if len(values) == 2 && values[1] < values[0] {
				return field.name + " range " + m[1] + " runs backwards"
			}
		}
	}
	return ""
}

func cronValue(text string, field cronField) (int, string) {
	if regexp.MustCompile(`^[0-9]+$`).MatchString(text) {
		n, err := strconv.ParseFloat(text, 64)
		if err != nil || n < float64(field.min) || n > float64(field.max) {
			return 0, field.name + " " + text + " out of range"
		}
		return int(n), ""
	}
	for i, name := range field.names {
		if strings.EqualFold(name, text) {
			if field.name == "month" {
				return i + 1, ""
			}
			return i, ""
		}
	}
	return 0, field.name + " " + strconv.Quote(text) + " is not a number or name"
}

// TestFuzzOracleRotationValues: the fuzz's judgement of cron expressions and integers, on which
// its "must be refused" rests, condemns what the engine must refuse and nothing that may be right.
func TestFuzzOracleRotationValues(t *testing.T) {
	for _, bad := range []string{"61 * * * *", "*/0 * * * *", "5-1 * * * *", "* * * *", "* * * * * *", "0 24 * * *", "0 0 0 * *",
		"0 0 * 13 *", "0 0 * * 8", "* * * DEC-JAN *", "@hourly", "L * * * *", "1-2-3 * * * *", "MON * * * *",
		"*/99999999999999999999 * * * *", "00000000000000000000000000000061 * * * *", ",, * * * *"} {
		if badCron(bad) == "" {
			t.Errorf("badCron(%q) = \"\", want a reason", bad)
		}
	}
	for _, ok := range []string{"", " ", "* * * * *", "0 3 * * *", "*/15 * * * 1-5", "0 0 1 JAN *", "30 2 * * sun", "0 12 * * 7",
		"0-59/20 0-23/4 * * *", "5/15 * * * *", "* * 31 2 *", "٣ * * * *", "*\u3000* * * *"} {
		if why := badCron(ok); why != "" {
			t.Errorf("badCron(%q) = %q, want \"\" (it may be right, or is not judged)", ok, why)
		}
	}
	for _, bad := range []interface{}{json.Number("1.5"), json.Number("1e400"), json.Number("9007199254740993"), "1.0", "0x10", "٣", "",
		"+", true, math.MaxFloat64} {
		if !notInt(bad) {
			t.Errorf("notInt(%#v) = false, want true", bad)
		}
	}
	for _, ok := range []interface{}{json.Number("0"), json.Number("1e3"), json.Number("-0"), " 4 ", "+2", "-1", 2, nil} {
		if notInt(ok) {
			t.Errorf("notInt(%#v) = true, want false", ok)
		}
	}
}
