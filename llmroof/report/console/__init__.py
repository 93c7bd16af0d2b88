"""Terminal rendering of results records: what a command prints after it has its record. Each function takes
the record and a rich console (the CLI's, which keeps wide tables readable) and prints; none computes a
result."""
