"""The web shell: layout, home page (工作台), health checks, security headers, navigation."""
