package main

import (
	"bytes"
	"encoding/json"

	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/migrate"
)

// statusJSON is a job's status as "migrate status -o json" prints it. The
// checkpoint stores the job's spec as a JSON string; printed as it is, a
// script would have to decode JSON inside JSON and would read the mode as
// a bare number. Spec shadows the stored string with the object, its
// mode named.
type statusJSON struct {
	*migrate.Status
	Spec json.RawMessage `json:"spec,omitempty"`
}

func statusesJSON(jobs []migrate.Status) []statusJSON {
	out := make([]statusJSON, len(jobs))
	for i := range jobs {
		out[i] = statusJSON{Status: &jobs[i], Spec: specObject(jobs[i].Spec)}
	}
	return out
}

// specObject decodes a stored spec and names its mode. A spec that does
// not decode (an older or hand-edited checkpoint row) is printed as the
// JSON string it is, not dropped.
func specObject(spec string) json.RawMessage {
	if spec == "" {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(spec), &m); err != nil {
		b, _ := json.Marshal(spec) // a string: cannot fail
		return b
	}
	if n, ok := m["mode"].(float64); ok {
		m["mode"] = field.Mode(n).String()
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // "->" in the job id stays "->"
	if err := enc.Encode(m); err != nil {
		raw, _ := json.Marshal(spec)
		return raw
	}
	return bytes.TrimSpace(b.Bytes())
}
