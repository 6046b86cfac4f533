"""Cin7 Core's error answers, as exceptions the API layer turns into responses.

Cin7 is not consistent, and the simulator copies that on purpose (sources.md §3.7): most errors are one Error
Model `{"ErrorCode": 403, "Exception": "..."}`, validation errors come as a list of them, and task endpoints
(payments against an invoice task) answer HTTP 200 with `{"Errors": [...]}`.
"""


class Cin7Error(Exception):
    status = 400
    shape = "object"  # "object" | "list" | "task" (HTTP 200 with an Errors list)

    def __init__(self, message: str, *, status: int | None = None, shape: str | None = None, retry_after=None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if shape is not None:
            self.shape = shape
        self.retry_after = retry_after

    def body(self):
        error = {"ErrorCode": self.status, "Exception": self.message}
        if self.shape == "list":
            return [error]
        if self.shape == "task":
            return {"Errors": [error]}
        return error

    @property
    def http_status(self) -> int:
        return 200 if self.shape == "task" else self.status


class Cin7ValidationError(Cin7Error):
    """A request the API refuses with 400 and a list of Error Models."""

    status = 400
    shape = "list"


class Cin7TaskError(Cin7Error):
    """A task-level refusal: Cin7 answers 200 and puts the errors in the body."""

    status = 400
    shape = "task"
