package migrate

import (
	"context"
	"fmt"

	"github.com/colcrypt/colcrypt/internal/sqldialect"
)

// class is what a column can hold, as far as a migration cares.
type class uint8

const (
	// classOther columns (integers, timestamps, …) can be encrypted from
	// their text form into another column, never hold ciphertext.
	classOther class = iota
	// classText columns (text, varchar, char; SQLite TEXT affinity) hold
	// ciphertext as text armor.
	classText
	// classBytes columns (bytea, BLOB) hold binary ciphertext.
	classBytes
)

func (c class) String() string {
	switch c {
	case classText:
		return "text"
	case classBytes:
		return "binary"
	}
	return "other"
}

// column is one column of a table, as the catalog describes it.
type column struct {
	Name  string
	Type  string // the engine's type name, usable in a CAST
	class class
	// MySQL only: the catalog's DATA_TYPE, and a text column's character
	// set and collation, which casting a key back to the column needs.
	dataType, charset, collation string
}

// tableInfo is a table as the catalog describes it.
type tableInfo struct {
	Name    string // as the caller gave it
	Columns map[string]column
	// PK is the single-column primary key, nil if the table has none or a
	// composite one.
	PK *column
}

func (ti *tableInfo) column(name, role string) (column, error) {
	c, ok := ti.Columns[name]
	if !ok {
		return column{}, fmt.Errorf("%w: %s column %q is not in table %s", errNoColumn, role, name, ti.Name)
	}
	return c, nil
}

// keyColumn decides the column that orders and pages the table: the given
// one (checked to be unique), or the catalog's single-column primary key.
func keyColumn(ctx context.Context, d dialect, q querier, ti *tableInfo, given string) (column, error) {
	if given == "" {
		if ti.PK == nil {
			return column{}, fmt.Errorf("%w: table %s has no single-column primary key; name a unique, non-null, orderable column with the PK option (--pk)", errNoPrimaryKey, ti.Name)
		}
		return *ti.PK, nil
	}
	if ti.PK != nil && ti.PK.Name == given {
		return *ti.PK, nil
	}
	c, ok := ti.Columns[given]
	if !ok {
		if given == "rowid" && d.sql() == sqldialect.SQLite {
			return column{Name: "rowid", Type: "INTEGER"}, nil
		}
		return column{}, fmt.Errorf("%w: key column %q is not in table %s", errNoColumn, given, ti.Name)
	}
	unique, err := d.uniqueColumn(ctx, q, ti, given)
	if err != nil {
		return column{}, err
	}
	if !unique {
		return column{}, fmt.Errorf("%w: key column %s.%s has no unique index: batches paged by it could skip rows", errNoPrimaryKey, ti.Name, given)
	}
	return c, nil
}
