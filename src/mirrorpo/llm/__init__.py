"""Preference optimisation of causal language models with mirrorpo losses, on Hugging Face TRL.

Importing this package needs the ``llm`` extra (trl, transformers, peft, datasets, gguf).
"""
