package main

import (
	"fmt"
	"math"
)

// expr is a compiled derived-feature expression over the aggregates' values (DOUBLE, with SQL
// nulls: null in, null out, except where nullif and coalesce say otherwise). Arithmetic is
// IEEE double arithmetic, as Java's: x/0 is ±Infinity, 0/0 NaN.
type expr struct {
	op    string
	args  []*expr
	slot  int
	value float64
}

var arity = map[string]int{"+": 2, "-": 2, "*": 2, "/": 2, "neg": 1, "abs": 1, "nullif": 2, "coalesce": -1}

// compileExpr resolves refs to slots; slot(name) says where an aggregate's value is.
func compileExpr(spec *ExprSpec, slot func(string) (int, bool)) (*expr, error) {
	if spec == nil {
		return nil, fmt.Errorf("missing expression")
	}
	switch spec.Op {
	case "num":
		if spec.Value == nil {
			return nil, fmt.Errorf("num without a value")
		}
		return &expr{op: "num", value: *spec.Value}, nil
	case "ref":
		i, ok := slot(spec.Name)
		if !ok {
			return nil, fmt.Errorf("ref %q is not an aggregate of the view", spec.Name)
		}
		return &expr{op: "ref", slot: i}, nil
	}
	n, ok := arity[spec.Op]
	if !ok {
		return nil, fmt.Errorf("unknown op %q", spec.Op)
	}
	if (n >= 0 && len(spec.Args) != n) || (n < 0 && len(spec.Args) == 0) {
		return nil, fmt.Errorf("op %q with %d arguments", spec.Op, len(spec.Args))
	}
	e := &expr{op: spec.Op}
	for _, a := range spec.Args {
		c, err := compileExpr(a, slot)
		if err != nil {
			return nil, err
		}
		e.args = append(e.args, c)
	}
	return e, nil
}

// eval is the expression's value; ok false for null.
func (e *expr) eval(slots []any) (float64, bool) {
	switch e.op {
	case "num":
		return e.value, true
	case "ref":
		v := slots[e.slot]
		if v == nil {
			return 0, false
		}
		return asFloat(v), true
	case "coalesce":
		for _, a := range e.args {
			if x, ok := a.eval(slots); ok {
				return x, true
			}
		}
		return 0, false
	case "nullif":
		x, ok := e.args[0].eval(slots)
		if !ok {
			return 0, false
		}
		if y, ok := e.args[1].eval(slots); ok && x == y {
			return 0, false
		}
		return x, true
	}
	x, ok := e.args[0].eval(slots)
	if !ok {
		return 0, false
	}
	switch e.op {
	case "neg":
		return -x, true
	case "abs":
		return math.Abs(x), true
	}
	y, ok := e.args[1].eval(slots)
	if !ok {
		return 0, false
	}
	switch e.op {
	case "+":
		return x + y, true
	case "-":
		return x - y, true
	case "*":
		return x * y, true
	default: // "/"
		return x / y, true
	}
}
