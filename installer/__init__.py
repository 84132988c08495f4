"""Installer tooling: `frostgrid device build|flash|deploy|provision|selftest|sim|memreport`."""
