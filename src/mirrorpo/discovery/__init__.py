"""Search over loss families: evolution strategies (``strategies``) and resumable runs (``run``)."""
