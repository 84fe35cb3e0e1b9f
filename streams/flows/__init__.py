"""The faust flows: thin agents that parse, call the domain, send, set aside what cannot be done."""
