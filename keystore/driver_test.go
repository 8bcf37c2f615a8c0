package keystore

import (
	"database/sql/driver"
	"errors"
)

// unknownDriver is a database/sql driver DialectFor cannot place.
type unknownDriver struct{}

func (unknownDriver) Open(string) (driver.Conn, error) {
	return nil, errors.New("unknownDriver: no connections")
}
