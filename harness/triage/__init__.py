"""Triage tools: a finding as a standalone repro script, bisecting releases, the bug catalog, keeping the
expectations in step with reports, and the release-granular matrix's environments and runs.
"""
