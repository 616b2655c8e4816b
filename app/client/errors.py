"""The client's exceptions: one ApiError subclass per kind of refusal, with the problem details."""


class ApiError(Exception):
    """An answer the API gave as problem details (or a non-JSON failure)."""

    def __init__(self, response):
        try:
            problem = response.json()
        except ValueError:
            problem = {}
        if not isinstance(problem, dict):
            problem = {}
        self.response = response
        self.status = response.status_code
        self.code = problem.get("code")
        self.title = problem.get("title")
        self.detail = problem.get("detail") or response.reason
        self.errors = problem.get("errors") or []
        self.request_id = problem.get("request_id") or response.headers.get("X-Request-Id")
        self.problem = problem
        super().__init__(f"{self.status} {self.code or response.reason}: {self.detail}")


class Unauthorized(ApiError):
    """401: the key is missing, unknown, revoked or expired."""


class Forbidden(ApiError):
    """403: the key may not do this (a read key writing)."""


class NotFound(ApiError):
    """404."""


class Conflict(ApiError):
    """409: the key exists, dependants remain, a tie among matches, or a key still in use
    after the retries."""


class PreconditionFailed(ApiError):
    """412: If-Match / If-None-Match did not hold."""


class ValidationError(ApiError):
    """422: `errors` lists each field with a JSON pointer."""


class RateLimited(ApiError):
    """429 after the retries; `retry_after` seconds."""

    @property
    def retry_after(self):
        return int(self.response.headers.get("Retry-After", "1"))


class ServerError(ApiError):
    """5xx after the retries."""


_ERRORS = {401: Unauthorized, 403: Forbidden, 404: NotFound, 409: Conflict,
           412: PreconditionFailed, 422: ValidationError, 429: RateLimited}


def error_for(response):
    """The ApiError subclass instance for a failed response."""
    error_class = _ERRORS.get(response.status_code,
                              ServerError if response.status_code >= 500 else ApiError)
    return error_class(response)
