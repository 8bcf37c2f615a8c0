package keystore

import "context"

type actorKey struct{}

// WithActor returns a context that names who performs the key operations
// run with it: the actor column of the audit trail ([Store.AuditEvents]).
// A web handler sets the signed-in operator, the CLI its --actor flag or
// the OS user. Without it the event's actor is empty.
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// actorFrom returns the actor WithActor put in ctx, or "".
func actorFrom(ctx context.Context) string {
	a, _ := ctx.Value(actorKey{}).(string)
	return a
}
