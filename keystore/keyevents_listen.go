package keystore

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// errNoListen means the pool's driver is not pgx's stdlib driver, whose
// connection can wait for notifications; the Store polls instead.
var errNoListen = errors.New("keystore: key events: the Postgres driver is not pgx's stdlib driver; polling")

// errPoolOfOne means the pool allows one connection, which listening
// would take from every other query; the Store polls instead.
var errPoolOfOne = errors.New("keystore: key events: the pool allows one connection; polling")

// maxNotificationPayload bounds the payload a notification may carry to
// count as a wake-up; the payload is never read otherwise (anyone who can
// connect to the database can NOTIFY on any channel).
const maxNotificationPayload = 32

// listen takes one connection from the pool, LISTENs on the key table's
// channel, reports that it listens, and wakes the watcher for each
// notification until ctx ends or the connection fails; it reports why it
// stopped and closes out. The connection is never handed back to the pool
// (it would carry the LISTEN, and notifications would pile up in it): it
// is closed, and the pool opens another when it needs one.
func (w *keyEvents) listen(ctx context.Context, out chan<- listenResult) {
	defer close(out)
	if w.db.Stats().MaxOpenConnections == 1 {
		out <- listenResult{err: errPoolOfOne}
		return
	}
	conn, err := w.db.Conn(ctx)
	if err != nil {
		out <- listenResult{err: err}
		return
	}
	defer conn.Close()
	var cause error // why a listening connection stopped
	err = conn.Raw(func(dc any) error {
		pc, ok := dc.(interface{ Conn() *pgx.Conn })
		if !ok {
			return errNoListen // not pgx; the connection itself is fine
		}
		c := pc.Conn()
		if _, err := c.Exec(ctx, w.q.Listen); err != nil {
			cause = err
			return driver.ErrBadConn
		}
		out <- listenResult{up: true}
		for {
			n, err := c.WaitForNotification(ctx)
			if err != nil {
				cause = err
				return driver.ErrBadConn
			}
			if n.Channel == w.q.Channel && len(n.Payload) <= maxNotificationPayload {
				w.signal()
			}
		}
	})
	switch {
	case ctx.Err() != nil:
		err = ctx.Err()
	case cause != nil:
		err = fmt.Errorf("keystore: key events listener: %w", cause)
	case !errors.Is(err, errNoListen) && !errors.Is(err, errPoolOfOne):
		err = fmt.Errorf("keystore: key events listener: %w", err)
	}
	out <- listenResult{err: err}
}
