package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
)

// Plan is what `featurestream serve` compiles from the model contracts and feature views
// (common/serving/plan.py): the server holds no feature logic of its own.
type Plan struct {
	Models []ModelSpec `json:"models"`
	Views  []ViewSpec  `json:"views"`
}

// ModelSpec is one model contract.
type ModelSpec struct {
	Name         string          `json:"model"`
	Version      int             `json:"version"`
	Description  string          `json:"description"`
	Trigger      string          `json:"trigger"`
	EntityKeys   []string        `json:"entity_keys"`
	Views        []ModelViewSpec `json:"views"`
	Inputs       []InputSpec     `json:"inputs"`
	RequestTopic string          `json:"request_topic"`
	ResultTopic  string          `json:"result_topic"`
}

// ModelViewSpec is a view a model reads, with the entity key that addresses it.
type ModelViewSpec struct {
	Name      string `json:"name"`
	Version   int    `json:"version"`
	Key       string `json:"key"`
	Qualified string `json:"qualified"`
}

// InputSpec is one model input in contract order; View is empty for an event input.
type InputSpec struct {
	Name string `json:"name"`
	Type string `json:"type"`
	View string `json:"view"`
	Ref  string `json:"ref"`
}

// ViewSpec is a feature view served raw.
type ViewSpec struct {
	Name     string        `json:"name"`
	Version  int           `json:"version"`
	Key      string        `json:"key"`
	Features []FeatureSpec `json:"features"`
	// ReadTime says how to evaluate the features at a read time from the key's event log or
	// tiles (issue 17); without it the view is served as stored at its last event.
	ReadTime *ReadTimeSpec `json:"read_time"`
}

// ReadTimeSpec is a view's read-time evaluation: its event log (or tiles) and every aggregate.
type ReadTimeSpec struct {
	EventsPrefix         string          `json:"events_prefix"`
	Tiles                *TilesSpec      `json:"tiles"`
	KeepMs               int64           `json:"keep_ms"`
	MarginMs             int64           `json:"margin_ms"`
	LastEventRetentionMs *int64          `json:"last_event_retention_ms"`
	Inputs               []LogInputSpec  `json:"inputs"`
	Aggregates           []AggregateSpec `json:"aggregates"`
	Derived              []DerivedSpec   `json:"derived"`
}

// TilesSpec is where a tiled view's hashes are and what their tiles keep (decision 76): per
// input, letters of "nslhwd".
type TilesSpec struct {
	Prefix string   `json:"prefix"`
	TileMs int64    `json:"tile_ms"`
	Parts  []string `json:"parts"`
}

// LogInputSpec is one value of an event log member, in member order.
type LogInputSpec struct {
	Column string `json:"column"`
	Kind   string `json:"kind"`
}

// AggregateSpec is one aggregate; Input indexes Inputs (null: the events themselves).
type AggregateSpec struct {
	Name     string `json:"name"`
	Function string `json:"function"`
	Input    *int   `json:"input"`
	WindowMs *int64 `json:"window_ms"`
	Kind     string `json:"kind"`
}

// DerivedSpec is a DOUBLE feature computed from aggregates.
type DerivedSpec struct {
	Name string    `json:"name"`
	Expr *ExprSpec `json:"expr"`
}

// ExprSpec is an expression node: op "num" (Value), "ref" (Name) or an operator over Args.
type ExprSpec struct {
	Op    string      `json:"op"`
	Args  []*ExprSpec `json:"args"`
	Name  string      `json:"name"`
	Value *float64    `json:"value"`
}

// FeatureSpec is one output feature of a view.
type FeatureSpec struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

var knownTypes = map[string]bool{"long": true, "double": true, "string": true, "boolean": true}

// model is a contract compiled for reading: per view, the fields to HMGET.
type model struct {
	spec        ModelSpec
	views       []modelView
	eventInputs map[string]string // name -> type
	// inputs in contract order: view index (-1: event) and position among that view's fields.
	inputs []compiledInput
}

type modelView struct {
	ModelViewSpec
	fields []string  // the view's inputs in contract order, then event_time
	rt     *readTime // nil: read as stored
	slots  []int     // with rt: each input's slot among the evaluated values
}

type compiledInput struct {
	InputSpec
	view  int
	field int
}

type view struct {
	ViewSpec
	fields []string  // features in view order, then event_time, event_id
	rt     *readTime // nil: read as stored
	slots  []int     // with rt: each feature's slot among the evaluated values
}

// catalog holds the compiled plan: models by name and version, views likewise.
type catalog struct {
	models map[string]map[int]*model
	latest map[string]int
	views  map[string]map[int]*view
	vlast  map[string]int
	list   []ModelSpec
}

func loadPlan(path string) (*catalog, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var plan Plan
	if err := json.Unmarshal(data, &plan); err != nil {
		return nil, fmt.Errorf("plan %s: %w", path, err)
	}
	return compile(plan)
}

func compile(plan Plan) (*catalog, error) {
	c := &catalog{
		models: map[string]map[int]*model{}, latest: map[string]int{},
		views: map[string]map[int]*view{}, vlast: map[string]int{}, list: plan.Models,
	}
	for _, spec := range plan.Views {
		v := &view{ViewSpec: spec}
		for _, f := range spec.Features {
			if !knownTypes[f.Type] {
				return nil, fmt.Errorf("view %s feature %s: unknown type %q", spec.Name, f.Name, f.Type)
			}
			v.fields = append(v.fields, f.Name)
		}
		v.fields = append(v.fields, "event_time", "event_id")
		if spec.ReadTime != nil {
			rt, err := compileReadTime(*spec.ReadTime)
			if err != nil {
				return nil, fmt.Errorf("view %s.v%d read_time: %w", spec.Name, spec.Version, err)
			}
			v.rt = rt
			if v.slots, err = rt.slotsOf(v.fields[:len(spec.Features)]); err != nil {
				return nil, fmt.Errorf("view %s.v%d: %w", spec.Name, spec.Version, err)
			}
		}
		if c.views[spec.Name] == nil {
			c.views[spec.Name] = map[int]*view{}
		}
		c.views[spec.Name][spec.Version] = v
		if spec.Version > c.vlast[spec.Name] {
			c.vlast[spec.Name] = spec.Version
		}
	}
	for _, spec := range plan.Models {
		m := &model{spec: spec, eventInputs: map[string]string{}}
		index := map[string]int{}
		for i, v := range spec.Views {
			m.views = append(m.views, modelView{ModelViewSpec: v})
			index[v.Name] = i
		}
		for _, in := range spec.Inputs {
			if !knownTypes[in.Type] {
				return nil, fmt.Errorf("model %s input %s: unknown type %q", spec.Name, in.Name, in.Type)
			}
			ci := compiledInput{InputSpec: in, view: -1}
			if in.View == "" {
				m.eventInputs[in.Name] = in.Type
			} else {
				vi, ok := index[in.View]
				if !ok {
					return nil, fmt.Errorf("model %s input %s: view %s is not one of its views", spec.Name, in.Name, in.View)
				}
				ci.view = vi
				ci.field = len(m.views[vi].fields)
				m.views[vi].fields = append(m.views[vi].fields, in.Name)
			}
			m.inputs = append(m.inputs, ci)
		}
		for i := range m.views {
			mv := &m.views[i]
			if v, ok := c.views[mv.Name][mv.Version]; ok && v.rt != nil {
				mv.rt = v.rt
				var err error
				if mv.slots, err = v.rt.slotsOf(mv.fields); err != nil {
					return nil, fmt.Errorf("model %s view %s: %w", spec.Name, mv.Qualified, err)
				}
			}
			mv.fields = append(mv.fields, "event_time")
		}
		if c.models[spec.Name] == nil {
			c.models[spec.Name] = map[int]*model{}
		}
		c.models[spec.Name][spec.Version] = m
		if spec.Version > c.latest[spec.Name] {
			c.latest[spec.Name] = spec.Version
		}
	}
	return c, nil
}

func (c *catalog) model(name string, version int) (*model, error) {
	versions, ok := c.models[name]
	if !ok {
		return nil, fmt.Errorf("no model contract %q; known: %s", name, names(c.models))
	}
	if version == 0 {
		version = c.latest[name]
	}
	m, ok := versions[version]
	if !ok {
		return nil, fmt.Errorf("no model contract %q v%d; known: %s", name, version, names(c.models))
	}
	return m, nil
}

func (c *catalog) view(name string, version int) (*view, error) {
	versions, ok := c.views[name]
	if !ok {
		return nil, fmt.Errorf("no feature view %q; known: %s", name, names(c.views))
	}
	if version == 0 {
		version = c.vlast[name]
	}
	v, ok := versions[version]
	if !ok {
		return nil, fmt.Errorf("no feature view %q v%d; known: %s", name, version, names(c.views))
	}
	return v, nil
}

func names[T any](m map[string]map[int]T) string {
	var out []string
	for name, versions := range m {
		for v := range versions {
			out = append(out, fmt.Sprintf("%s.v%d", name, v))
		}
	}
	sort.Strings(out)
	s := ""
	for i, n := range out {
		if i > 0 {
			s += ", "
		}
		s += n
	}
	return s
}
