// Package config is the proxy's configuration: its types, the parser of
// the configuration file (a block syntax close to HAProxy's, read by a small
// lexer of our own so that every error names FILE:LINE:COL), the
// configuration the command line's flags make, and the difference between
// two configurations that a reload applies.
//
// The package is pure: Parse reads from an io.Reader, nothing here opens a
// socket, looks up a name or reads the machine's CPU list. docs/proxy.md
// describes the format, every directive with its default and unit, and the
// translation from HAProxy's directives.
package config
