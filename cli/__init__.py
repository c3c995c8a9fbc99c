"""`recadmin`: the admin CLI. Thin: each command parses options, calls one library function, prints the result."""
