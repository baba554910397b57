"""Preference datasets: teacher, presets, format and generation."""
