"""The use cases: each command is one transaction on one instance, with its events and effects."""
