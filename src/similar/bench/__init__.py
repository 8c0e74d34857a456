"""Benchmarks: ranking quality on graded doc-to-doc judgments, and speed and cost."""
