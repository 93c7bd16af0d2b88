"""The command line: parse, call one library function, render. Nothing here computes."""
