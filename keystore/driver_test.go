package keystore

import (
	"context"
	"database/sql/driver"
	"errors"
)

// unknownDriver is a database/sql driver, and its own connector, that
// DialectFor cannot place.
type unknownDriver struct{}

var errNoConn = errors.New("unknownDriver: no connections")

func (unknownDriver) Open(string) (driver.Conn, error)             { return nil, errNoConn }
func (unknownDriver) Connect(context.Context) (driver.Conn, error) { return nil, errNoConn }
func (d unknownDriver) Driver() driver.Driver                      { return d }
