"""Datasets and LAVIS dataset builders of the plugin (builders register in their own modules)."""
