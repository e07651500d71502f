"""AWS list prices in us-east-1, in USD, as the run's cost (run_cost.py) and the benchmark apply
them. Other regions differ by a few percent; the cost in summary.json names the prices it used.

Step Functions Standard: $0.025 per 1,000 state transitions. Lambda (x86): $0.20 per million
requests and $0.0000166667 per GB-second. Fargate (Linux, x86): $0.04048 per vCPU-hour and
$0.004445 per GB-hour, per second with a one-minute minimum per task. S3 Standard: $0.005 per
1,000 PUT, COPY, POST or LIST requests, $0.0004 per 1,000 GET and other requests. DynamoDB on
demand (since November 2024): $0.625 per million write request units, $0.125 per million read
request units.
"""

PRICES = {
    "state_transition": 0.025 / 1000,
    "lambda_request": 0.20 / 1e6,
    "lambda_gb_second": 0.0000166667,
    "fargate_vcpu_second": 0.04048 / 3600,
    "fargate_gb_second": 0.004445 / 3600,
    "s3_put_list_request": 0.005 / 1000,
    "s3_get_request": 0.0004 / 1000,
    "dynamodb_write_unit": 0.625 / 1e6,
    "dynamodb_read_unit": 0.125 / 1e6,
}
PRICES_REGION = "us-east-1"
# Fargate bills each task from its image pull to its stop, rounded up to the second, one minute at least.
FARGATE_MINIMUM_SECONDS = 60
