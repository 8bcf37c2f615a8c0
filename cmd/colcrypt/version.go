package main

import "runtime/debug"

// buildVersion is set by release builds:
//
//	go build -ldflags "-X main.buildVersion=v1.2.3" ./cmd/colcrypt
var buildVersion string

// version is what --version prints: the release version if the build set
// one, else the module version go install recorded (v1.2.3, or a pseudo
// version), with the VCS revision a build from a checkout records, so
// that a bug report names the code it ran.
func version() string {
	v := buildVersion
	info, ok := debug.ReadBuildInfo()
	if !ok {
		if v == "" {
			v = "(unknown version)"
		}
		return v
	}
	if v == "" {
		v = info.Main.Version
	}
	if v == "" {
		v = "(devel)"
	}
	var rev, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = "+dirty"
			}
		}
	}
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		v += " (" + rev + modified + ")"
	}
	return v + " " + info.GoVersion
}
