"""Benchmarks: each prints `name: value unit` lines and writes bench/results/<benchmark>.json."""
