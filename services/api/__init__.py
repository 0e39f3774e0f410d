"""The HTTP/WebSocket API (FastAPI on uvicorn), shaped to the sequence-markets client contract."""
