"""HTTP conventions every answer keeps: header limits and empty answers (steps of
app/pipeline.py)."""
from flask import request

from app.errors import HeadersTooLarge

MAX_HEADER_FIELDS = 100
MAX_HEADER_FIELD_BYTES = 8190


def check_header_limits():
    """Before anything reads the headers: 431 past their count or size."""
    if len(request.headers) > MAX_HEADER_FIELDS:
        raise HeadersTooLarge(f"The request has more than {MAX_HEADER_FIELDS} header fields.")
    for name, value in request.headers.items():
        if len(name) + len(value) + 2 > MAX_HEADER_FIELD_BYTES:
            raise HeadersTooLarge(f"The header field {name!r} is longer than "
                                  f"{MAX_HEADER_FIELD_BYTES} bytes.")


def empty_answers(response):
    """OPTIONS is 204 with Allow; an answer without content has no Content-Type."""
    if request.method == "OPTIONS" and response.status_code == 200 \
            and not response.content_length and "Allow" in response.headers:
        response.status_code = 204
        response.set_data(b"")
    if response.status_code in (204, 304):
        response.headers.pop("Content-Type", None)
        response.headers.pop("Content-Length", None)
    return response
