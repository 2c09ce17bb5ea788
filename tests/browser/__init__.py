"""Helpers of tests/test_browser.py: a local server for the built book and page visits."""
