"""Hosted strategies: a tenant's Python project run as a sandboxed subprocess.

`store` keeps definitions (unpacked project, sealed secrets); `supervisor` runs them under
resource limits with their own API key and keeps their logs; `bootstrap` is the first code of
every run (it applies the limits). The API's `/v1/strategies*` router is the front door.
"""
