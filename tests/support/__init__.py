"""Builders and clients shared by test modules (test modules never import each other)."""
