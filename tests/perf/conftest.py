"""Benchmarks are scripts, not tests: keep pytest from collecting this folder."""

collect_ignore_glob = ["*"]
