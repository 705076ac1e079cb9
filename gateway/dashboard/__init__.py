"""The dashboard at /ui: read-only pages of one team's endpoints, alerts, A/B tests and
models, signed in with a team API token.

Modules: `auth` (the sign-in cookie), `pages` (pages and routes), `panels` (one module per
box on a page: its read and its template), `render` (templates, number formats, headers),
`links` (the Prefect UI). Templates and the vendored uPlot ship in `templates/`, `static/`.
"""
