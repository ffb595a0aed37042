"""`patt campaign recount <id>`: recompute a closed campaign from its ballots and compare the
results and the ballot digest with what was stored at close."""

from __future__ import annotations

import argparse
from typing import Any

from patt.cli.common import UserError, database_url, run_async

RECOUNT_MISMATCH = 3


def register(sub: Any) -> None:
    """`patt campaign recount <id>`: recompute a closed campaign from its ballots."""
    campaign = sub.add_parser(
        "campaign",
        help="campaign tools (recount)",
        description="Campaign tools for officers and operators.",
    )
    campaign.set_defaults(help_parser=campaign)
    actions = campaign.add_subparsers(dest="campaign_command", metavar="ACTION")
    recount = actions.add_parser(
        "recount",
        help="recompute a closed campaign's results from its ballots and compare",
        description="Recompute the results of a closed or archived campaign from its ballots "
        "(independently of the calculation stored at close) and compare them with the stored "
        "results; recompute the SHA-256 digest of the canonical ballot list and the ballot count "
        "and compare them with the audit snapshot taken at close. Exit codes: 0 everything "
        "matches, 1 error (unknown or still open campaign), 2 bad usage, 3 mismatch.",
    )
    recount.add_argument("campaign_id", type=int, help="the campaign id")
    recount.set_defaults(handler=cmd_campaign_recount)


def cmd_campaign_recount(args: argparse.Namespace, settings: Any) -> int:
    """Print the recount table; exit 3 when it differs from the stored results."""
    from patt.campaigns import results
    from sv_common.errors import DomainError

    url = database_url(settings)

    async def work(session: Any) -> dict[str, Any]:
        return await results.recount(session, args.campaign_id)

    try:
        report = run_async(url, work)
    except DomainError as exc:
        raise UserError(exc.message) from exc
    print(
        f"Campaign {report['campaign_id']} \u2014 {report['title']} "
        f"({report['method']}, {report['ballots']} ballots)"
    )
    print(f"{'rank':>4}  {'score':>6}  {'stored':>6}  entry")
    for row in report["rows"]:
        print(
            f"{row['final_rank']:>4}  {row['score']:>6}  "
            f"{'' if row['stored_score'] is None else row['stored_score']:>6}  {row['name']}"
        )
    if report["stored_digest"] is not None:
        print(f"Ballot digest at close: {report['stored_digest']}")
    print(f"Ballot digest now:      {report['digest']}")
    for note in report["notes"]:
        print(f"Note: {note}")
    if report["outcome"] == "no_quorum":
        print("Outcome: no result (turnout stayed below the quorum).")
    if report["matches"]:
        print("Recount matches the stored results and the ballot digest.")
        return 0
    print("MISMATCH between the recount and the stored results:")
    for line in report["differences"]:
        print(f"  - {line}")
    return RECOUNT_MISMATCH
