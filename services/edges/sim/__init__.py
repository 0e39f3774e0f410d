"""Local venue servers: each venue's own wire protocol on loopback, with fault injection."""
