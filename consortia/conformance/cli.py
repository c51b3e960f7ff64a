"""``consortia lab``: a test lab examines a prototype and records its signed test report.

``examine`` looks the application up on the node, runs its product type's suite against the
prototype, prints the verdict item by item, writes the full report document, and (unless
``--dry-run``) submits ``certification.test_report`` signed by the lab's key with the report's
SHA-256 as evidence. Exit 0 when every item passed, 1 when one failed or on any error.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from consortia.cli.common import DEFAULT_URL, call_node, fail, load_key
from consortia.conformance.report import ExamReport, ItemOutcome
from consortia.conformance.runner import TIMEOUT_S_DEFAULT, TIMEOUT_S_MAX, run_suite, suites

app = typer.Typer(no_args_is_help=True,
                  help="Test lab: examine a prototype with its product type's conformance "
                  "suite and record the signed test report.")
PREFIX = "/v1/certification"


def _credentials(pairs: list[str]) -> dict[str, str] | None:
    if not pairs:
        return None
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            fail(f"bad_credential: {pair.partition('=')[0][:20]!r}: give NAME=VALUE, e.g. "
                 "username=lab")
        out[name] = value
    return out


def _verdict_table(report: ExamReport) -> Table:
    table = Table("item", "title", "verdict", "note", title=f"{report.product_type} at "
                  f"{report.prototype_url}")
    for item in report.items:
        verdict = "[green]pass[/green]" if item.passed else "[red]FAIL[/red]"
        table.add_row(item.item, item.title, verdict, item.note)
    return table


def _write(out: Path, document: dict[str, Any]) -> None:
    try:
        out.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror or exc.__class__.__name__}")


@app.command()
def examine(certificate: str = typer.Argument(..., help="the application id (or number)"),
            url: str = typer.Option(..., "--url", help="the prototype's HTTP endpoint"),
            key: Path = typer.Option(..., "--key", help="the lab's key file"),
            node: str = typer.Option(DEFAULT_URL, "--node", envvar="CONSORTIA_URL",
                                     help="node URL"),
            out: Path | None = typer.Option(None, "--out", help="report file (default "
                                            "conformance-<application id>.json)"),
            dry_run: bool = typer.Option(False, "--dry-run", help="examine and write the "
                                         "report, submit nothing"),
            credential: list[str] = typer.Option([], "--credential", help="NAME=VALUE of the "
                                                 "client software's test account (username, "
                                                 "password, pin); repeat"),
            timeout: float = typer.Option(TIMEOUT_S_DEFAULT, "--timeout", min=1,
                                          max=TIMEOUT_S_MAX, help="seconds for the whole "
                                          "suite"),
            ) -> None:
    """Examine the prototype at --url for CERTIFICATE and record the test report."""
    lab = load_key(key)
    credentials = _credentials(credential)
    cert: dict[str, Any] = call_node(node, lambda c: c.get(f"{PREFIX}/certificates/{certificate}"))
    product_type = str(cert["product_type"])
    if product_type not in suites():
        fail(f"no_suite: {product_type} has no automated suite (there are suites for "
             f"{', '.join(sorted(suites()))})")
    if not dry_run and cert["status"] != "testing":
        fail(f"not_testing: {certificate[:24]} is {cert['status']}, not testing: there is "
             "nothing to report (use --dry-run to examine anyway)")
    vendor: dict[str, Any] = call_node(node, lambda c: c.get(f"{PREFIX}/vendors/{cert['vendor']}"))
    report = _examine(product_type, url, credentials, str(vendor["key"]), str(cert["id"]),
                      timeout)
    target = out or Path(f"conformance-{str(cert['id'])[:16]}.json")
    _write(target, report.to_json())
    digest = report.digest()
    print(f"report {target} (SHA-256 {digest})")
    if not dry_run:
        payload = {"certificate": cert["id"], "results": report.results_payload(),
                   "evidence": digest}
        result, receipt = call_node(node, lambda c: c.send(lab, "certification.test_report",
                                                           payload))
        if result["status"] != "accepted":
            fail(f"rejected: {result['code']}: {result['message']}")
        print(f"recorded: tx {receipt['tx_id']}, {certificate[:24]} is now "
              f"{result['data']['status']}")
    _verdict(report)


@app.command()
def run(product_type: str = typer.Argument(..., help="BARCODE_TERMINAL or CLIENT_SW"),
        url: str = typer.Option(..., "--url", help="the prototype's HTTP endpoint"),
        out: Path | None = typer.Option(None, "--out", help="write the report here"),
        credential: list[str] = typer.Option([], "--credential", help="NAME=VALUE of the "
                                             "client software's test account; repeat"),
        vendor_key: str | None = typer.Option(None, "--vendor-key", help="the vendor key "
                                              "(hex) the prototype's credential or manifest "
                                              "must carry"),
        timeout: float = typer.Option(TIMEOUT_S_DEFAULT, "--timeout", min=1, max=TIMEOUT_S_MAX,
                                      help="seconds for the whole suite"),
        ) -> None:
    """Run a suite against a prototype without a node: a vendor's pre-compliance check.
    Nothing is recorded; exit 0 when every item passed."""
    report = _examine(product_type, url, _credentials(credential), vendor_key, "", timeout)
    if out is not None:
        _write(out, report.to_json())
        print(f"report {out} (SHA-256 {report.digest()})")
    _verdict(report)


def _examine(product_type: str, url: str, credentials: dict[str, str] | None,
             vendor_key: str | None, certificate: str, timeout_s: float) -> ExamReport:
    """Run the suite with a live status line, then print the verdict table."""
    console = Console(width=160)
    with console.status(f"examining {url} as {product_type}") as status:
        def show(item: ItemOutcome) -> None:
            status.update(f"examining {url}: {item.item} {'passed' if item.passed else 'FAILED'}")

        try:
            report = run_suite(product_type, url, credentials=credentials,
                               vendor_key=vendor_key, certificate=certificate,
                               timeout_s=timeout_s, on_item=show)
        except ValueError as exc:
            fail(str(exc))
    console.print(_verdict_table(report))
    return report


def _verdict(report: ExamReport) -> None:
    """The last line, and exit 1 when an item failed."""
    failed = report.failed_items
    if failed:
        print(f"failed: {len(failed)} of {len(report.items)} items ({', '.join(failed)})")
        raise typer.Exit(1)
    print(f"passed: all {len(report.items)} items")
