"""The SMART on FHIR app: EHR and standalone launch, server-side sessions, and the clinician's pages.

`create_smart_app(settings)` (in `web`) returns the FastAPI app that the main server mounts at `/smart`:

    from smart_app.smart.settings import SmartSettings
    from smart_app.smart.web import create_smart_app
    main.mount("/smart", create_smart_app(SmartSettings()))

Configuration (`SmartSettings`, environment `SMART_APP_SMART_*`):
    CLIENT_ID, REDIRECT_URI (absolute URL of /smart/callback)      required
    CLIENT_TYPE public | confidential-symmetric | confidential-asymmetric (default public)
    CLIENT_SECRET                                                  confidential-symmetric (HTTP Basic)
    PRIVATE_KEY (JWK JSON or path), KEY_ID, SIGNING_ALG RS384|ES384 confidential-asymmetric (private_key_jwt)
    SESSION_SECRET, ALLOWED_ISSUERS (comma-separated FHIR bases)    required unless DEV_MODE=true
    WRITE_ORDERS (request patient/MedicationRequest.c, ServiceRequest.c, Task.c), WRITE_FOLLOW_UPS (request
    patient/QuestionnaireResponse.c), REFRESH, SESSION_TTL_SECONDS, HTTP_TIMEOUT_S, FHIR_BUDGET_S
"""
