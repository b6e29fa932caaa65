"""Readers and writers: lazy frame sources, prompts, the on-disk label store and exports."""
