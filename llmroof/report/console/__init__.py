"""Terminal rendering of results records: what a command prints after it has its record. Each ``print_*``
function takes the record (and a rich console, the CLI's, which keeps wide tables readable, or the
output format and file) and prints or writes it; none computes a result."""
