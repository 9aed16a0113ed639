package opentrail_test

import (
	"context"
	"errors"
	"fmt"
	"os"

	opentrail "example.invalid/opentrail/bindings/go"
)

func Example() {
	dir, _ := os.MkdirTemp("", "opentrail-example-")
	defer os.RemoveAll(dir)
	agent, err := opentrail.New(fmt.Sprintf(`
data_dir = "%[1]s/data"
account_id = "123456789012"
durability = "memory"
[storage]
local_root = "%[1]s/out"
[[trails]]
name = "main"
s3_bucket_name = "audit-logs"
is_multi_region_trail = true
`, dir))
	if err != nil {
		panic(err)
	}
	defer agent.Close()

	record := []byte(`{"eventVersion":"1.08","eventTime":"2024-05-01T12:00:00Z",` +
		`"eventSource":"s3.amazonaws.com","eventName":"CreateBucket","awsRegion":"eu-west-1",` +
		`"eventID":"6f1c2a3b-0000-4000-8000-000000000001"}`)
	if err := agent.Submit(record); err != nil {
		panic(err)
	}
	err = agent.Submit([]byte(`{"eventName":"NoSource"}`))
	fmt.Println("refused:", errors.Is(err, opentrail.ErrInvalidRecord))

	if err := agent.Flush(context.Background()); err != nil {
		panic(err)
	}
	stats, _ := agent.Stats()
	fmt.Println("delivered:", stats.RecordsDelivered)
	// Output:
	// refused: true
	// delivered: 1
}
