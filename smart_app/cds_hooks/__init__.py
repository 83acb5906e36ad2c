"""CDS Hooks 2.0 service (FastAPI): discovery, the ketamine and opioid (MME) services, feedback.

Request path: `app` (HTTP, auth, limits) -> `context` (hook request, draft orders; `dstu2` for sandbox drafts)
-> `pipeline` (draft relevance, 412 decision, card order) -> `data` (prefetch shapes, FHIR fallback) -> a service in
`services/` (calls the clinical core) -> `cards` / `mme_card` (findings as cards). `registry` holds the service
declarations discovery is derived from; `prefetch` the templates and their 2.0 validity check.
"""
