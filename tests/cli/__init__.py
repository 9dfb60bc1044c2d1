"""Tests of the command line: real `python -m hal9` subprocesses."""
