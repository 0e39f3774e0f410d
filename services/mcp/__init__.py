"""MCP server: Crossbook's trading tools for AI agents, scoped to one API key."""
