package main

import "github.com/colcrypt/colcrypt/migrate"

// checkRunFlags refuses, before anything is opened or written, the flag
// values a migration would otherwise act on wrongly: a job with no workers
// or empty batches would never start, and a target column that is also
// the tenant, key, bind or blind index column would have each row's
// identity overwritten with ciphertext, one failure line per row.
func checkRunFlags(col columnFlags, toColumns []string, o migrate.RunOptions) error {
	switch {
	case o.Workers < 1:
		return usageErr("--workers must be at least 1, not %d", o.Workers)
	case o.BatchSize < 1:
		return usageErr("--batch-size must be at least 1, not %d", o.BatchSize)
	case o.RowsPerSecond < 0:
		return usageErr("--rate cannot be negative (0 means no limit)")
	}
	columns := col.columns
	if len(columns) == 0 {
		columns = []string{col.column}
	}
	roles := []struct{ name, flag string }{
		{col.tenantColumn, "--tenant-column"},
		{col.pk, "--pk"},
		{col.bindColumn, "--bind-column"},
		{col.blindIndex, "--blind-index"},
	}
	for i, column := range columns {
		target, flag := column, "--column (migrated in place)"
		if i < len(toColumns) && toColumns[i] != "" {
			target, flag = toColumns[i], "--to-column"
		}
		for _, r := range roles {
			if r.name != "" && r.name == target {
				return usageErr("%s %s is also the %s: it would be overwritten; write into another column", flag, target, r.flag)
			}
		}
		if len(toColumns) > 0 && col.blindIndex != "" && col.blindIndex == column {
			return usageErr("--blind-index %s is also the --column read", col.blindIndex)
		}
	}
	return nil
}
