"""The local demo: a whole estate as real processes on loopback, one address per department."""
