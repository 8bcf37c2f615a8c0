package main

import "log/slog"

// logLevels are the values of --log-level besides "off".
var logLevels = map[string]slog.Level{
	"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError,
}

// logger is the key store's logger for --log-level: slog text records on
// standard error at that level and above, nil for "off" (the store
// discards). The store's records name tenants and versions, never a key
// byte or a value.
func (c *cli) logger() *slog.Logger {
	level, ok := logLevels[c.logLevel]
	if !ok {
		return nil
	}
	return slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: level}))
}
