package main

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"
)

// refDecodeMember is the decoder decodeMember replaced (encoding/json into RawMessages), kept as
// the reference the scanner must agree with.
func refDecodeMember(text string, inputs []kind) (event, error) {
	var raw []json.RawMessage
	if err := json.Unmarshal([]byte(text), &raw); err != nil {
		return event{}, err
	}
	if len(raw) != len(inputs)+1 {
		return event{}, fmt.Errorf("%d values, want the id and %d inputs", len(raw), len(inputs))
	}
	id, ok := refJSONString(raw[0])
	if !ok {
		return event{}, fmt.Errorf("event id %s is not a string", raw[0])
	}
	e := event{id: id, values: make([]any, len(inputs))}
	for i, k := range inputs {
		v, err := refLogValue(raw[i+1], k)
		if err != nil {
			return event{}, fmt.Errorf("input %d: %w", i, err)
		}
		e.values[i] = v
	}
	return e, nil
}

func refLogValue(raw json.RawMessage, k kind) (any, error) {
	text := string(raw)
	if text == "null" {
		return nil, nil
	}
	switch k {
	case kindLong:
		n, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s is not a BIGINT", text)
		}
		return n, nil
	case kindDouble:
		switch text {
		case `"NaN"`:
			return math.NaN(), nil
		case `"Infinity"`:
			return math.Inf(1), nil
		case `"-Infinity"`:
			return math.Inf(-1), nil
		}
		if text == "" || text[0] == '"' {
			return nil, fmt.Errorf("%s is not a DOUBLE", text)
		}
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return nil, fmt.Errorf("%s is not a DOUBLE", text)
		}
		return f, nil
	case kindBool:
		if text != "true" && text != "false" {
			return nil, fmt.Errorf("%s is not a BOOLEAN", text)
		}
		return text == "true", nil
	default:
		s, ok := refJSONString(raw)
		if !ok {
			return nil, fmt.Errorf("%s is not a STRING", text)
		}
		return s, nil
	}
}

func refJSONString(raw json.RawMessage) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	if !strings.ContainsRune(string(raw), '\\') {
		return string(raw[1 : len(raw)-1]), true
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// sameValue is v == w with NaN equal to NaN and -0 apart from 0, types included.
func sameValue(v, w any) bool {
	if f, ok := v.(float64); ok {
		g, ok := w.(float64)
		return ok && (math.Float64bits(f) == math.Float64bits(g) || (math.IsNaN(f) && math.IsNaN(g)))
	}
	return v == w
}

// agree decodes text with the scanner and the reference and fails the test if they differ:
// one rejects what the other accepts, or the id or a value differs. It reports acceptance.
func agree(t testing.TB, text string, inputs []kind) bool {
	t.Helper()
	got, err := decodeMember(text, inputs)
	want, refErr := refDecodeMember(text, inputs)
	if (err == nil) != (refErr == nil) {
		t.Fatalf("%q: scanner error %v, encoding/json error %v", text, err, refErr)
	}
	if err != nil {
		return false
	}
	if got.id != want.id || len(got.values) != len(want.values) {
		t.Fatalf("%q: scanner %#v, encoding/json %#v", text, got, want)
	}
	for i := range got.values {
		if !sameValue(got.values[i], want.values[i]) {
			t.Fatalf("%q: input %d scanner %#v, encoding/json %#v", text, i, got.values[i], want.values[i])
		}
	}
	return true
}

// javaString quotes s as the job's writer does: \" \\ \b \f \n \r \t, other controls \u00XX,
// the rest raw; generic also uses the escapes any JSON writer may (\/, \uXXXX for any
// character, surrogate pairs).
func javaString(r *rand.Rand, s string, generic bool) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, c := range s {
		switch {
		case generic && c == '/' && r.Intn(2) == 0:
			b.WriteString(`\/`)
		case generic && r.Intn(8) == 0 && c != utf8.RuneError:
			if c >= 0x10000 {
				hi, lo := utf16Units(c)[0], utf16Units(c)[1]
				fmt.Fprintf(&b, `\u%04X\u%04x`, hi, lo)
			} else {
				fmt.Fprintf(&b, `\u%04x`, c)
			}
		case c == '"':
			b.WriteString(`\"`)
		case c == '\\':
			b.WriteString(`\\`)
		case c == '\b':
			b.WriteString(`\b`)
		case c == '\f':
			b.WriteString(`\f`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\t':
			b.WriteString(`\t`)
		case c < 0x20:
			fmt.Fprintf(&b, `\u%04x`, c)
		default:
			b.WriteRune(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

var alphabet = []rune{'a', 'Z', '0', '-', '_', ' ', '"', '\\', '/', '\n', '\t', '\b', '\f', '\r', 0, 1, 0x1f, 0x7f,
	'é', 'ß', '€', 0xFFFF, 0xE000, '😀', 0x10FFFF, 'ü'}

func randomText(r *rand.Rand) string {
	n := r.Intn(12)
	var b strings.Builder
	for range n {
		b.WriteRune(alphabet[r.Intn(len(alphabet))])
	}
	return b.String()
}

// javaDouble is Double.toString's form of f: 12.5, 1.0E10, -3.0E-5.
func javaDouble(f float64) string {
	a := math.Abs(f)
	if a == 0 || (a >= 1e-3 && a < 1e7) {
		s := strconv.FormatFloat(f, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	}
	s := strconv.FormatFloat(f, 'E', -1, 64) // 1E+10, 1.5E-05
	mant, exp, _ := strings.Cut(s, "E")
	if !strings.Contains(mant, ".") {
		mant += ".0"
	}
	e, _ := strconv.Atoi(exp)
	return mant + "E" + strconv.Itoa(e)
}

func randomDouble(r *rand.Rand) string {
	switch r.Intn(10) {
	case 0:
		return []string{`"NaN"`, `"Infinity"`, `"-Infinity"`}[r.Intn(3)]
	case 1:
		return javaDouble([]float64{0, math.Copysign(0, -1), math.MaxFloat64, -math.MaxFloat64, math.SmallestNonzeroFloat64,
			2.2250738585072014e-308, 1e7, 9999999.999, 1e-3, 9.999e-4}[r.Intn(10)])
	case 2:
		return []string{"1e400", "-1e400", "1e-400", "1E5", "1e+5", "0.5e-3", "123", "-0", "0.0000", "12345678901234567890123"}[r.Intn(10)]
	case 3:
		return strconv.FormatInt(r.Int63()-r.Int63(), 10)
	default:
		return javaDouble(math.Float64frombits(r.Uint64()&^(0x7ff<<52)|uint64(r.Intn(0x7ff))<<52) * float64(1-2*r.Intn(2)))
	}
}

func randomLong(r *rand.Rand) string {
	switch r.Intn(6) {
	case 0:
		return []string{"0", "-0", "9223372036854775807", "-9223372036854775808", "9223372036854775808",
			"-9223372036854775809", "1.0", "1e3", "255", "256"}[r.Intn(10)]
	case 1:
		return strconv.Itoa(r.Intn(300))
	default:
		return strconv.FormatInt(r.Int63()>>r.Intn(63)*int64(1-2*r.Intn(2)), 10)
	}
}

func randomValue(r *rand.Rand, k kind) string {
	if r.Intn(12) == 0 {
		return "null"
	}
	if r.Intn(15) == 0 { // of another kind: both must reject (or read) it alike
		k = kind(r.Intn(4))
	}
	switch k {
	case kindLong:
		return randomLong(r)
	case kindDouble:
		return randomDouble(r)
	case kindBool:
		return []string{"true", "false"}[r.Intn(2)]
	}
	return javaString(r, randomText(r), r.Intn(3) == 0)
}

var space = []string{"", "", "", "", " ", "\t", "\n", "\r", " \n "}

func randomMember(r *rand.Rand, inputs []kind) string {
	ws := func() string {
		if r.Intn(4) == 0 {
			return space[r.Intn(len(space))]
		}
		return ""
	}
	parts := []string{javaString(r, randomText(r), r.Intn(3) == 0)}
	for _, k := range inputs {
		parts = append(parts, randomValue(r, k))
	}
	var b strings.Builder
	b.WriteString(ws() + "[" + ws())
	for i, p := range parts {
		if i > 0 {
			b.WriteString(ws() + "," + ws())
		}
		b.WriteString(p)
	}
	b.WriteString(ws() + "]" + ws())
	return b.String()
}

// mutate damages a member: a byte deleted, inserted, replaced, or the text cut.
func mutate(r *rand.Rand, s string) string {
	if s == "" {
		return string(`[]"\,:{}0-.eE+atn` + "\x00\xff")[r.Intn(19):][:1]
	}
	i := r.Intn(len(s))
	const bytes = `[]"\,:{}0123456789-.eE+ aflsenurtu/` + "\x00\x01\x1f\x80\xc3\xff\t\n"
	c := bytes[r.Intn(len(bytes))]
	switch r.Intn(4) {
	case 0:
		return s[:i] + s[i+1:]
	case 1:
		return s[:i] + string(c) + s[i:]
	case 2:
		return s[:i] + string(c) + s[i+1:]
	}
	return s[:i]
}

var mixedInputs = []kind{kindLong, kindDouble, kindString, kindBool, kindDouble, kindLong}

func TestScannerDecodesMembersAsEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewSource(17))
	accepted, rejected := 0, 0
	for range 40_000 {
		inputs := mixedInputs[:r.Intn(len(mixedInputs)+1)]
		member := randomMember(r, inputs)
		if agree(t, member, inputs) {
			accepted++
		} else {
			rejected++
		}
		for range 3 {
			member = mutate(r, member)
			if agree(t, member, inputs) {
				accepted++
			} else {
				rejected++
			}
		}
	}
	t.Logf("%d accepted, %d rejected", accepted, rejected)
	if accepted < 30_000 || rejected < 30_000 {
		t.Errorf("%d accepted, %d rejected: the generator tests too little of one side", accepted, rejected)
	}
}

func TestScannerAcceptsJSONEscapesAndJavaForms(t *testing.T) {
	inputs := []kind{kindString, kindDouble, kindDouble, kindLong}
	e, err := decodeMember(`["a\"\\\/\b\f\n\r\t\u00e9\uD83D\uDE00\u0001","s\u00fc😀",-3.0E-5,1.0E10,-9223372036854775808]`, inputs)
	if err != nil {
		t.Fatal(err)
	}
	if e.id != "a\"\\/\b\f\n\r\té😀\x01" || e.values[0] != "sü😀" || e.values[1] != -3.0e-5 || e.values[2] != 1e10 ||
		e.values[3] != int64(math.MinInt64) {
		t.Errorf("decoded %#v", e)
	}
}

// malformedMembers are rejected by both decoders, for inputs (BIGINT, DOUBLE, STRING, BOOLEAN).
var malformedMembers = []string{
	``, ` `, `[`, `]`, `[]`, `[ ]`, `null`, `"id"`, `{}`, `["id"`, `["id",`, `["id",1`, `["id",1,2.0,"s",true`,
	`["id",1,2.0,"s",true]]`, `["id",1,2.0,"s",true],`, `["id",1,2.0,"s",true]x`, `["id",1,2.0,"s",true] [`,
	`["id",1,2.0,"s"]`, `["id",1,2.0,"s",true,null]`, `["id",1,2.0,"s",true,]`, `["id",,1,2.0,"s",true]`,
	`["id" 1,2.0,"s",true]`, `[,"id",1,2.0,"s",true]`, `[1,1,2.0,"s",true]`, `[null,1,2.0,"s",true]`,
	`["id",1.0,2.0,"s",true]`, `["id","1",2.0,"s",true]`, `["id",1,"2.0",true,true]`, `["id",1,2.0,3,true]`,
	`["id",1,2.0,"s","true"]`, `["id",1,2.0,"s",1]`, `["id",01,2.0,"s",true]`, `["id",+1,2.0,"s",true]`,
	`["id",1,.5,"s",true]`, `["id",1,1.,"s",true]`, `["id",1,1e,"s",true]`, `["id",1,1e+,"s",true]`, `["id",1,-,"s",true]`,
	`["id",1,NaN,"s",true]`, `["id",1,"nan","s",true]`, `["id",1,Infinity,"s",true]`, `["id",1,1e400,"s",true]`,
	`["id",9223372036854775808,2.0,"s",true]`, `["id",1,2.0,"s",True]`, `["id",1,2.0,"s",tru]`, `["id",1,2.0,"s",truee]`,
	`["id",nul,2.0,"s",true]`, `["id",[1],2.0,"s",true]`, `["id",1,{},"s",true]`, `["id",1,2.0,["s"],true]`,
	`["i\d",1,2.0,"s",true]`, `["id\",1,2.0,"s",true]`, `["id",1,2.0,"\u12",true]`, `["id",1,2.0,"\uZZZZ",true]`,
	`["id",1,2.0,"\x41",true]`, `["id",1,2.0,"\'",true]`, "[\"i\nd\",1,2.0,\"s\",true]", "[\"id\",1,2.0,\"s\x00\",true]",
	"[\"id\",1,2.0,\"s\",true]\x00", "\v[\"id\",1,2.0,\"s\",true]", `['id',1,2.0,"s",true]`, `["id",1,2.0,"s",true}`,
	`["id":1,2.0,"s",true]`, `["id",1,2.0,"s",true`, `["id",1,2.0,"s",true` + ` `, `["id",0x1,2.0,"s",true]`,
	`["id",1_0,2.0,"s",true]`, `["id",1,2.0,"s",false` + "\u00a0]",
}

func TestMalformedMembersAreRejectedByBoth(t *testing.T) {
	inputs := []kind{kindLong, kindDouble, kindString, kindBool}
	if !agree(t, `["id",1,2.0,"s",true]`, inputs) {
		t.Fatal("the well-formed member is rejected")
	}
	for _, bad := range malformedMembers {
		if agree(t, bad, inputs) {
			t.Errorf("decoded %q", bad)
		}
	}
	// Every proper prefix of a member is truncated.
	good := `["a\u00e9\"b",-12,-3.0E-5,"x\\y",false]`
	for i := range len(good) {
		if agree(t, good[:i], inputs) {
			t.Errorf("decoded the prefix %q", good[:i])
		}
	}
}

func TestDecodeLogSortsOnlyOutOfOrderMembers(t *testing.T) {
	// "a" < "a!" but `"a"` > `"a!` in bytes: Redis returns ["a!",...] first within a millisecond.
	members := []string{`["a!",1]`, `["a",2]`, `["a\"",3]`, `["a\\",4]`, `["b",5]`}
	events, bad := decodeLog(zs(1, members...), []kind{kindLong})
	var ids []string
	for _, e := range events {
		ids = append(ids, e.id)
	}
	if bad != 0 || strings.Join(ids, " ") != `a a! a" a\ b` {
		t.Errorf("%d bad, ids %q", bad, ids)
	}
	// A bad member between good ones leaves the others' values in place.
	events, bad = decodeLog(zs(1, `["x",1]`, `["y",oops]`, `["z",3]`), []kind{kindLong})
	if bad != 1 || len(events) != 2 || events[0].values[0] != int64(1) || events[1].values[0] != int64(3) ||
		len(events[0].values) != 1 || cap(events[0].values) != 1 {
		t.Errorf("%d bad, %+v", bad, events)
	}
}

func FuzzDecodeMember(f *testing.F) {
	inputs := []kind{kindLong, kindDouble, kindString, kindBool}
	f.Add(`["id",1,2.0,"s",true]`)
	f.Add(`["a\u00e9\"b",-12,"NaN","x\\y\uD83D\uDE00",null]`)
	f.Add(` [ "id" , null , 1.0E10 , "" , false ] `)
	for _, bad := range malformedMembers {
		f.Add(bad)
	}
	f.Fuzz(func(t *testing.T, member string) { agree(t, member, inputs) })
}

// zs are members all at one score, in the order given.
func zs(score float64, members ...string) []redis.Z {
	out := make([]redis.Z, len(members))
	for i, m := range members {
		out[i] = redis.Z{Score: score, Member: m}
	}
	return out
}
