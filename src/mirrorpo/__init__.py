"""mirrorpo: design, benchmark and discover preference-optimization objectives."""

__version__ = "0.1.0"
