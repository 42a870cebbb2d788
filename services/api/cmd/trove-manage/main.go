// trove-manage administers Trove's catalog: schema migrations and datastore registration.
package main

import (
	"context"
	"os"
	"os/signal"

	"github.com/trove-go/trove/services/api/internal/manage"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := manage.New().Run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}
