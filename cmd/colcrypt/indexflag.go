package main

import (
	"strconv"
	"strings"

	"github.com/colcrypt/colcrypt/migrate"
)

// indexFlagHelp is the --index flag's usage line.
const indexFlagHelp = `named index to fill, repeatable: 'name=<name>,parts=<column>[/<transform>…][+…][,column=<index column>][,bits=<n>]' ` +
	`(column defaults to the name; parts as a GORM index:/parts: tag, naming columns: ssn/digits/last4+zip/trim)`

// parseIndexFlag reads one --index value:
//
//	name=ssn_zip,column=ssn_zip_idx,parts=ssn/digits/last4+zip/trim,bits=32
//
// name and parts are required; column (where the index is stored)
// defaults to the name, bits to 128. The words are a GORM index tag's
// (index:, parts:, bits:) with '=' for ':', so that a shell line and a
// struct tag read alike, plus the column, which a tag has from its
// field. Every error is a usage error naming the value's problem.
func parseIndexFlag(v string) (migrate.JobIndex, error) {
	fail := func(format string, args ...any) (migrate.JobIndex, error) {
		return migrate.JobIndex{}, usageErr("--index %q: "+format, append([]any{v}, args...)...)
	}
	got := map[string]string{}
	for _, kv := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(kv, "=")
		k, val = strings.TrimSpace(k), strings.TrimSpace(val)
		switch {
		case strings.TrimSpace(kv) == "":
			return fail("an empty item")
		case !ok || val == "":
			return fail("%q is not key=value", kv)
		case k != "name" && k != "column" && k != "parts" && k != "bits" && k != "indexkey":
			return fail("unknown key %q (name, column, parts, bits, indexkey)", k)
		case got[k] != "":
			return fail("%s given twice", k)
		}
		got[k] = val
	}
	if got["name"] == "" || got["parts"] == "" {
		return fail("give name= and parts=")
	}
	// The tag parser splits on ':' and ','; neither belongs in a name or
	// a part, and ',' cannot reach here.
	for _, k := range []string{"name", "parts", "bits", "indexkey"} {
		if strings.ContainsAny(got[k], ":") {
			return fail("%s holds ':'", k)
		}
	}
	tag := "index:" + got["name"] + ",parts:" + got["parts"]
	if b := got["bits"]; b != "" {
		if _, err := strconv.Atoi(b); err != nil {
			return fail("bits=%q is not a number", b)
		}
		tag += ",bits:" + b
	}
	if k := got["indexkey"]; k != "" {
		tag += ",indexkey:" + k
	}
	column := got["column"]
	if column == "" {
		column = got["name"]
	}
	x, err := migrate.NewJobIndex(column, tag)
	if err != nil {
		return fail("%v", err)
	}
	return x, nil
}

// parseIndexFlags reads every --index value.
func parseIndexFlags(vs []string) ([]migrate.JobIndex, error) {
	var out []migrate.JobIndex
	for _, v := range vs {
		x, err := parseIndexFlag(v)
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, nil
}

// describeIndexes is the part of a job's description naming its index
// columns.
func describeIndexes(xs []migrate.JobIndex) string {
	if len(xs) == 0 {
		return ""
	}
	cols := make([]string, len(xs))
	for i, x := range xs {
		cols[i] = x.Column
	}
	return " => " + strings.Join(cols, ",")
}
