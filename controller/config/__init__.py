"""The configuration files: topologies (`topology`) and classifier policies
(`policy`), read into typed values by one YAML reader (`yaml_reader`) that
names file and key in every error.

Imports nothing of ours (tests/unit/test_layout.py), so every process and the
lab can read the same files.
"""
