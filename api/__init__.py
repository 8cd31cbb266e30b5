"""The FastAPI scheduling service (issue 6): thin over twin/, not yet written."""
