"""The governance pages in a real browser: members, nodes, parameters, proposals, ballots."""

from __future__ import annotations

import httpx
from playwright.sync_api import Page, expect

from consortia.demo.consortium import FOUNDERS, JOINERS
from tests.conftest import RunningNode

MEMBERS = len(FOUNDERS + JOINERS)


def test_governance_page_lists_the_demo_members(demo_node: RunningNode, page: Page) -> None:
    page.goto(demo_node.url + "/governance")
    rows = page.locator("#members tbody tr")
    expect(rows).to_have_count(MEMBERS)
    for member in FOUNDERS + JOINERS:
        row = rows.filter(has_text=member.name)
        expect(row).to_have_count(1)
        expect(row).to_contain_text(member.role.replace("_", " "))
        expect(row).to_contain_text("active")
    expect(page.locator("#nodes tbody tr")).to_have_count(1)
    expect(page.locator("#nodes")).to_contain_text("Lotus Pay Network")
    expect(page.locator("#parameters")).to_contain_text("regulator_veto")


def test_governance_page_shows_the_open_proposal_first_with_its_tally(
        demo_node: RunningNode, page: Page) -> None:
    page.goto(demo_node.url + "/governance")
    proposals = page.locator("#proposals article")
    expect(proposals).to_have_count(len(demo_node.node.chain.state.keys("governance/proposal/")))
    first = proposals.first
    expect(first).to_have_attribute("data-status", "open")
    expect(first).to_contain_text("Set proposal_ttl_ms to 1209600000")
    expect(first).to_contain_text("Give members two weeks to vote")
    expect(first.locator(".tally-text")).to_have_text(
        f"0 yes 0 no {MEMBERS} not voted · {MEMBERS // 2 + 1} of {MEMBERS} needed",
        use_inner_text=True)
    expect(first.locator(".tally-bar rect.not-voted")).to_have_attribute("width", str(MEMBERS))
    expect(proposals.nth(1)).to_have_attribute("data-status", "accepted")
    expect(page.locator("code.cli")).to_have_text("consortia gov vote <id> --yes --key FILE")


def test_proposal_page_shows_ballots_per_member(demo_node: RunningNode, page: Page) -> None:
    page.goto(demo_node.url + "/governance")
    page.get_by_role("link", name="Admit Meridian Bank (meridian) as bank").click()
    page.wait_for_url("**/governance/proposals/*")
    expect(page.locator("#proposal-status")).to_have_text("accepted")
    ballots = page.locator("#ballots tbody tr")
    expect(ballots).to_have_count(MEMBERS)
    # Founders vote in order until a strict majority of the four of them (three) is reached.
    for member_id, vote in [("arcadia-cb", "yes"), ("harbor", "yes"), ("lotus", "yes"),
                            ("fro", "not voted"), ("meridian", "not voted")]:
        expect(page.locator(f"#ballots tr[data-member='{member_id}'] .badge")).to_have_text(vote)


def test_open_proposal_page_shows_how_to_vote(demo_node: RunningNode, page: Page) -> None:
    page.goto(demo_node.url + "/governance")
    page.locator("#proposals article[data-status='open'] h3 a").first.click()
    expect(page.locator("#proposal-status")).to_have_text("open")
    proposal_id = page.url.rsplit("/", 1)[1]
    expect(page.locator("pre.cli")).to_contain_text(
        f"consortia gov vote {proposal_id} --yes --key FILE")
    expect(page.locator("#ballots .badge")).to_have_text(["not voted"] * MEMBERS)


def test_unknown_proposal_shows_a_not_found_page(demo_node: RunningNode) -> None:
    response = httpx.get(f"{demo_node.url}/governance/proposals/{'ef' * 32}")
    assert response.status_code == 404
    assert "Proposal not found" in response.text


def test_currency_proposals_read_as_sentences(demo_node: RunningNode, page: Page) -> None:
    from consortia.demo.consortium import CURRENCIES, TIERS

    page.goto(demo_node.url + "/governance")
    titles = page.locator("#proposals article h3")
    for c in CURRENCIES:
        expect(titles.filter(has_text=f"Add currency {c.code} ({c.name}), issued by "
                                      f"{c.issuer}")).to_have_count(1)
        for t in TIERS:
            expect(titles.filter(has_text=(
                f"Set {c.code} tier {t.tier} limits: balance {t.balance_max}, per payment "
                f"{t.payment_max}, daily {t.daily_max}"))).to_have_count(1)
