"""The core CLI commands, one module per concern, imported only when used."""
