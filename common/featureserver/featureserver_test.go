package main

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func testPlan() Plan {
	return Plan{
		Models: []ModelSpec{{
			Name: "m", Version: 2, EntityKeys: []string{"card_id"},
			Views: []ModelViewSpec{{Name: "card", Version: 1, Key: "card_id", Qualified: "card.v1"}},
			Inputs: []InputSpec{
				{Name: "amount", Type: "long", Ref: "event.amount"},
				{Name: "count", Type: "long", View: "card", Ref: "card.count"},
				{Name: "avg", Type: "double", View: "card", Ref: "card.avg"},
			},
		}},
		Views: []ViewSpec{{Name: "card", Version: 1, Key: "card_id", Features: []FeatureSpec{
			{Name: "count", Type: "long"}, {Name: "avg", Type: "double"}, {Name: "flag", Type: "boolean"},
		}}},
	}
}

func TestFloatsRoundTripExactly(t *testing.T) {
	for _, f := range []float64{0, 1, -2.5, 100000, 1e20, 1e21, 1e-7, 30411.15601463449, 123456789} {
		var back float64
		text := appendFloat(nil, f)
		if err := json.Unmarshal(text, &back); err != nil || back != f {
			t.Errorf("appendFloat(%v) = %s reads back as %v (%v)", f, text, back, err)
		}
	}
	for _, f := range []float64{math.NaN(), math.Inf(1)} {
		if got := string(appendFloat(nil, f)); got != "null" {
			t.Errorf("appendFloat(%v) = %s, want null", f, got)
		}
	}
}

func TestStringsAreValidJSON(t *testing.T) {
	for _, s := range []string{"plain", `quo"te`, "back\\slash", "new\nline", "ünïcode"} {
		var back string
		if err := json.Unmarshal(appendString(nil, s), &back); err != nil || back != s {
			t.Errorf("appendString(%q) round trip = %q, %v", s, back, err)
		}
	}
}

func TestTypedRefusesWhatIsNotItsType(t *testing.T) {
	for _, c := range []struct{ text, typ string }{{"1.5", "long"}, {"x", "double"}, {"yes", "boolean"}} {
		if _, err := typed(c.text, c.typ); err == nil {
			t.Errorf("typed(%q, %s) accepted", c.text, c.typ)
		}
	}
}

func TestModelVectorKeepsContractOrderAndListsWhatIsMissing(t *testing.T) {
	c, err := compile(testPlan())
	if err != nil {
		t.Fatal(err)
	}
	m, err := c.model("m", 0)
	if err != nil || m.spec.Version != 2 {
		t.Fatalf("latest version: %v %v", m, err)
	}
	if got := strings.Join(m.views[0].fields, ","); got != "count,avg,event_time" {
		t.Fatalf("fields read for the view: %s", got)
	}
	bad := 0
	row := modelRow{keys: map[string]string{"card_id": "c1"}, event: map[string]string{}}
	body, found := m.vectorJSON(nil, row, [][]any{{"3", "not a double", "1000"}}, 3500, &bad)
	want := `{"model":"m","version":2,"keys":{"card_id":"c1"},"features":{"amount":null,"count":3,"avg":null},` +
		`"as_of":{"card.v1":"1970-01-01T00:00:01.000+00:00"},"staleness_s":{"card.v1":2.5},"missing":["event.amount"]}`
	if string(body) != want || found != 1 || bad != 1 {
		t.Fatalf("got %s (found %d, bad %d)\nwant %s", body, found, bad, want)
	}
	body, found = m.vectorJSON(nil, row, [][]any{{nil, nil, nil}}, 3500, &bad)
	if found != 0 || !strings.HasSuffix(string(body), `"missing":["event.amount","card.v1"]}`) {
		t.Fatalf("absent vector: %s", body)
	}
}

func TestRowsAreCheckedLikeThePythonServer(t *testing.T) {
	c, _ := compile(testPlan())
	m, _ := c.model("m", 2)
	cases := map[string]modelRow{
		"needs entity keys ['card_id']": {keys: map[string]string{}, event: map[string]string{}},
		"are not event inputs":          {keys: map[string]string{"card_id": "c"}, event: map[string]string{"x": "1"}},
		"amount:":                       {keys: map[string]string{"card_id": "c"}, event: map[string]string{"amount": "1.5"}},
	}
	for want, row := range cases {
		if err := m.check(row); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("check: %v, want %q", err, want)
		}
	}
	if _, err := c.model("m", 7); err == nil || !strings.Contains(err.Error(), "known: m.v2") {
		t.Errorf("unknown version: %v", err)
	}
}

func TestAPlanWithAnUnknownTypeIsRefused(t *testing.T) {
	plan := testPlan()
	plan.Views[0].Features[0].Type = "decimal"
	if _, err := compile(plan); err == nil {
		t.Fatal("compiled a view with an unknown type")
	}
}
