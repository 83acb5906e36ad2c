"""Revisions, oldest first: r0001 (the schema as first shipped), r0002 (dropped-analytics counts)."""
