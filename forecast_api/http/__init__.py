"""The HTTP surface: routes, the wire schemas, errors and response building."""
