"""Agents' access to the service: the MCP server at `/mcp`, tools over the routes' services."""
