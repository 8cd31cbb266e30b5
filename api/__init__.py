"""The FastAPI scheduling service, thin over twin/: ``api.app.create_app``."""
