"""One examination in progress: a bounded HTTP client to the prototype, the suite's deadline,
and the observations each item records.

Every call to the prototype is bounded twice: by ``call_timeout_s`` and by the time left to
the whole suite, so no prototype can hold the lab longer than the suite's limit. Secrets the
suite hands to the prototype (the test account's password and PIN, a provisioned key) are
redacted from everything recorded, so the report itself carries none.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import httpx

from consortia.conformance.host import HostSimulator

BODY_BYTES_MAX = 1 << 20  # any answer the suite reads, except a client package
PACKAGE_BYTES_MAX = 16 << 20
OBSERVATIONS_MAX = 48  # per item; more are counted, not kept
OBSERVED_CHARS_MAX = 240
REDACTED = "<redacted>"
# Shorter values are not redacted: they would also blank out ordinary text ("1", "x").
SECRET_CHARS_MIN = 4


class ItemFailed(Exception):
    """The item fails; ``note`` says why in one short sentence."""

    def __init__(self, note: str) -> None:
        super().__init__(note)
        self.note = note


class TimeUp(ItemFailed):
    """The suite's time limit ran out."""


@dataclass(frozen=True)
class Answer:
    """A prototype's answer to one call."""

    call: str  # "POST /payments"
    status: int
    headers: httpx.Headers
    body: bytes
    elapsed_ms: int

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            raise ItemFailed(f"{self.call} answered {self.status} but not JSON") from None

    def json_object(self) -> dict[str, Any]:
        value = self.json()
        if not isinstance(value, dict):
            raise ItemFailed(f"{self.call} answered {self.status} but not a JSON object")
        return value

    @property
    def set_cookies(self) -> list[str]:
        return self.headers.get_list("set-cookie")


class Exam:
    """The state one suite run shares between its items."""

    def __init__(self, url: str, *, deadline: float, time_limit_s: float,
                 call_timeout_s: float, host: HostSimulator, credentials: dict[str, str],
                 vendor_key: str | None) -> None:
        assert call_timeout_s > 0 and time_limit_s > 0
        self.url = url.rstrip("/")
        self.deadline = deadline
        self.time_limit_s = time_limit_s
        self.call_timeout_s = call_timeout_s
        self.host = host
        self.credentials = credentials
        self.vendor_key = vendor_key
        self.secrets: list[str] = [v for k, v in credentials.items()
                                   if k != "username" and v]
        self.setup_error = ""  # why the suite's set-up failed, if it did
        self.state: dict[str, Any] = {}  # what a suite's set-up leaves for its items
        self.observations: list[dict[str, Any]] = []
        self.observations_dropped = 0
        self.item_answers: list[Answer] = []  # every answer of the current item, unredacted
        # No cookie jar carries sessions between calls: every call says what it sends.
        self.http = httpx.Client(base_url=self.url, follow_redirects=False,
                                 timeout=call_timeout_s)

    def close(self) -> None:
        self.http.close()

    # -- bookkeeping ---------------------------------------------------------------------------

    def remaining_s(self) -> float:
        return self.deadline - time.monotonic()

    def check_time(self) -> None:
        if self.remaining_s() <= 0:
            raise TimeUp(f"the suite's time limit of {self.time_limit_s:g} s ran out")

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            if len(secret) >= SECRET_CHARS_MIN:
                text = text.replace(secret, REDACTED)
        return text

    def _clip(self, value: Any) -> Any:
        if isinstance(value, str):
            value = self.redact(value)
            return value if len(value) <= OBSERVED_CHARS_MAX else (
                value[:OBSERVED_CHARS_MAX - 1] + "…")
        if isinstance(value, float):  # the report is canonical JSON: no floats
            return repr(value)
        if isinstance(value, dict):
            return {str(k): self._clip(v) for k, v in list(value.items())[:32]}
        if isinstance(value, list | tuple):
            return [self._clip(v) for v in list(value)[:32]]
        return value

    def observe(self, what: str, **fields: Any) -> None:
        """Record one observation on the current item (bounded, secrets redacted)."""
        if len(self.observations) >= OBSERVATIONS_MAX:
            self.observations_dropped += 1
            return
        self.observations.append({"what": what, **self._clip(fields)})

    def take_observations(self) -> list[dict[str, Any]]:
        out = self.observations
        if self.observations_dropped:
            out.append({"what": "more observations omitted", "count": self.observations_dropped})
        self.observations, self.observations_dropped = [], 0
        return out

    def need_setup(self) -> None:
        if self.setup_error:
            raise ItemFailed(self.setup_error)

    # -- calls -----------------------------------------------------------------------------------

    def call(self, method: str, path: str, *, json_body: Any = None,
             headers: dict[str, str] | None = None, cookie: str | None = None,
             timeout_s: float | None = None, bytes_max: int = BODY_BYTES_MAX,
             record_body: bool = True) -> Answer:
        """One call to the prototype, recorded; ItemFailed when it gives no answer."""
        self.check_time()
        limit_s = max(0.05, min(timeout_s or self.call_timeout_s, self.remaining_s()))
        sent = dict(headers or {})
        if cookie is not None:
            sent["cookie"] = cookie
        call = f"{method} {path}"
        started = time.monotonic()
        try:
            with self.http.stream(method, path, json=json_body, headers=sent,
                                  timeout=limit_s) as response:
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > bytes_max:
                        raise ItemFailed(f"{call}: answer larger than {bytes_max} bytes")
        except httpx.TimeoutException:
            self.observe(call, error=f"no answer within {limit_s:.1f} s")
            self.check_time()
            raise ItemFailed(f"{call}: no answer within {limit_s:.1f} s") from None
        except httpx.TransportError as exc:
            self.observe(call, error=exc.__class__.__name__)
            raise ItemFailed(f"{call}: cannot reach the prototype ({exc.__class__.__name__})",
                             ) from None
        finally:
            self.http.cookies.clear()
        elapsed_ms = round((time.monotonic() - started) * 1000)
        answer = Answer(call, response.status_code, response.headers, bytes(body), elapsed_ms)
        if len(self.item_answers) < OBSERVATIONS_MAX:
            self.item_answers.append(answer)
        fields: dict[str, Any] = {"status": answer.status, "ms": elapsed_ms}
        if json_body is not None:
            fields["sent"] = json.dumps(json_body, ensure_ascii=False)
        if record_body:
            fields["body"] = answer.text
        self.observe(call, **fields)
        return answer

    def expect(self, answer: Answer, *statuses: int) -> Answer:
        """The answer, if its status is one of ``statuses``; ItemFailed otherwise."""
        if answer.status not in statuses:
            shown = " or ".join(map(str, statuses))
            raise ItemFailed(f"{answer.call} answered {answer.status}{_says(answer)}, expected "
                             f"{shown}")
        return answer


def _says(answer: Answer) -> str:
    """What an error answer says, briefly: its JSON ``code: message``, if it has one."""
    try:
        body = json.loads(answer.body)
    except ValueError:
        return ""
    if not isinstance(body, dict) or "code" not in body:
        return ""
    return f" ({str(body['code'])[:40]}: {str(body.get('message', ''))[:80]})"


def require(condition: bool, note: str) -> None:
    """Fail the item with ``note`` unless ``condition`` holds."""
    if not condition:
        raise ItemFailed(note)
