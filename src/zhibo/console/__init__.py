"""The web console: server-rendered pages (Jinja2) over the same services the API calls, for
operators, compliance officers, auditors, streamers, partners and brands, in Chinese and
English. Sign-in takes an API token, kept in an HttpOnly cookie; every page asks the domain
services with the caller's principal, so a role sees exactly what the API would show it.
Scripts, styles and the chart library are served by zhibo itself (docs/console.md).
"""
