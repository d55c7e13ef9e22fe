"""Privacy by construction: export, erasure, retention."""
