"""LAVIS tasks of the plugin (each registers in its own module)."""
