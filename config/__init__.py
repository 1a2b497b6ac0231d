"""Settings (environment) and the shipped line/team configuration."""
