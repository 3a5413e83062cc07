"""``check``: is the ledger sound? Set-based SQL only, so it stays fast on millions of postings.

The ledger's own invariants are checked here (trial balance, every entry balanced with at
least two non-zero postings, valid currencies, postings and reversals pointing at real rows,
each reversal exactly negating its original), in two grouped scans of the postings. Other
domains add their own checks with :func:`register_order_check`: settlement registers "every
order traces to its postings", identity "every tip traces to its postings"
(``zhibo.identity.tip_ledger``). ``check`` imports those modules first, so their checks run
whichever entry point (CLI, API, test) asked.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from zhibo.ledger.schemas import LedgerReport, Problem

#: How many problems one check lists before it only counts the rest.
LIST_LIMIT = 100

OrderCheck = Callable[[Session], Iterable[Problem]]
_order_checks: list[OrderCheck] = []
#: Modules whose import registers a domain's checks.
CHECK_MODULES = ("zhibo.settlement", "zhibo.identity.tip_ledger")


def register_order_check(fn: OrderCheck) -> None:
    """Run ``fn`` as part of every ``check``; registering the same function twice is a no-op."""
    if fn not in _order_checks:
        _order_checks.append(fn)


def registered_order_checks() -> tuple[OrderCheck, ...]:
    return tuple(_order_checks)


# Pass 1: trial balance per currency, posting count, postings on unknown accounts.
_BY_ACCOUNT = {
    "postgresql": """
SELECT g.currency, sum(g.total), sum(g.n),
       sum(CASE WHEN a.id IS NULL THEN g.n ELSE 0 END)
FROM (
    SELECT account_id, currency, sum(amount_fen) AS total, count(*) AS n
    FROM ledger_postings GROUP BY account_id, currency
) g LEFT JOIN ledger_accounts a ON a.id = g.account_id
GROUP BY g.currency ORDER BY g.currency
""",
    # SQLite groups by sorting: one plain pass answers a single-currency ledger (the usual),
    # and the account ids come from the account index alone.
    "sqlite": """
SELECT sum(amount_fen), count(*), min(currency), max(currency),
       (SELECT count(*) FROM (SELECT DISTINCT account_id FROM ledger_postings) d
        WHERE NOT EXISTS (SELECT 1 FROM ledger_accounts a WHERE a.id = d.account_id))
FROM ledger_postings
""",
}
_BY_CURRENCY = """
SELECT currency, sum(amount_fen) FROM ledger_postings GROUP BY currency ORDER BY currency
"""
# Pass 2, by entry: every entry against its postings' count, sum, currencies and smallest
# amount, in one grouped scan joined to the entries. Entries in one currency are judged here;
# entries in several (min <> max) go to _MULTI_CURRENCY.
_ENTRY_GROUPS = """
SELECT entry_id, count(*) AS n, sum(amount_fen) AS total, min(currency) AS lo,
       max(currency) AS hi, min(abs(amount_fen)) AS smallest
FROM ledger_postings GROUP BY entry_id
"""
_BY_ENTRY_WHERE = """
WHERE e.id IS NULL OR g.entry_id IS NULL OR g.n < 2 OR g.smallest = 0
   OR (g.lo = g.hi AND g.total <> 0)
"""
_BY_ENTRY = {
    # A FULL JOIN finds entries without postings and postings without entries in one pass.
    "postgresql": f"""
SELECT e.order_id, e.key, coalesce(e.id, g.entry_id), e.id IS NULL, coalesce(g.n, 0),
       g.total, g.lo, g.smallest
FROM ({_ENTRY_GROUPS}) g FULL JOIN ledger_entries e ON e.id = g.entry_id
{_BY_ENTRY_WHERE} ORDER BY coalesce(e.id, g.entry_id)
""",
    # SQLite before 3.39 has no FULL JOIN: the same as a LEFT JOIN and an anti-join.
    "sqlite": f"""
WITH g AS ({_ENTRY_GROUPS})
SELECT * FROM (
    SELECT e.order_id, e.key, e.id, 0, coalesce(g.n, 0), g.total, g.lo, g.smallest
    FROM ledger_entries e LEFT JOIN g ON g.entry_id = e.id
    {_BY_ENTRY_WHERE.replace("e.id IS NULL OR ", "")}
    UNION ALL
    SELECT NULL, NULL, g.entry_id, 1, g.n, g.total, g.lo, g.smallest FROM g
    WHERE NOT EXISTS (SELECT 1 FROM ledger_entries e WHERE e.id = g.entry_id)
) ORDER BY 3
""",
}
# Run only when the ledger holds more than one currency.
_MULTI_CURRENCY = """
SELECT e.order_id, e.key, s.currency, s.total FROM (
    SELECT entry_id, currency, sum(amount_fen) AS total FROM ledger_postings
    WHERE entry_id IN (
        SELECT entry_id FROM ledger_postings GROUP BY entry_id
        HAVING min(currency) <> max(currency)
    )
    GROUP BY entry_id, currency HAVING sum(amount_fen) <> 0
) s JOIN ledger_entries e ON e.id = s.entry_id ORDER BY e.id
"""
# Run only when pass 1 found postings on unknown accounts or a malformed currency.
_UNKNOWN_ACCOUNTS = """
SELECT e.order_id, e.key, p.entry_id, p.line, p.account_id FROM ledger_postings p
LEFT JOIN ledger_accounts a ON a.id = p.account_id
LEFT JOIN ledger_entries e ON e.id = p.entry_id
WHERE a.id IS NULL ORDER BY p.entry_id, p.line
"""
_BAD_CURRENCY = """
SELECT e.order_id, e.key, p.line, p.currency FROM ledger_postings p
LEFT JOIN ledger_entries e ON e.id = p.entry_id
WHERE p.currency IN :currencies ORDER BY p.entry_id, p.line
"""
_REVERSAL_TARGETS = """
SELECT r.order_id, r.key, r.reverses_entry_id, o.reverses_entry_id FROM ledger_entries r
LEFT JOIN ledger_entries o ON o.id = r.reverses_entry_id
WHERE r.reverses_entry_id IS NOT NULL AND (o.id IS NULL OR o.reverses_entry_id IS NOT NULL)
ORDER BY r.id
"""
_REVERSAL_AMOUNTS = """
SELECT r.order_id, r.key, a.code, t.currency, t.total FROM (
    SELECT pair, account_id, currency, sum(amount_fen) AS total FROM (
        SELECT r.id AS pair, p.account_id, p.currency, p.amount_fen
        FROM ledger_entries r JOIN ledger_postings p ON p.entry_id = r.id
        WHERE r.reverses_entry_id IS NOT NULL
        UNION ALL
        SELECT r.id, p.account_id, p.currency, p.amount_fen
        FROM ledger_entries r JOIN ledger_postings p ON p.entry_id = r.reverses_entry_id
        WHERE r.reverses_entry_id IS NOT NULL
    ) both_sides GROUP BY pair, account_id, currency HAVING sum(amount_fen) <> 0
) t JOIN ledger_entries r ON r.id = t.pair LEFT JOIN ledger_accounts a ON a.id = t.account_id
ORDER BY r.id
"""
_CURRENCY = re.compile(r"[A-Z]{3}")


def _counted(rows: Iterable[Problem], problems: list[Problem]) -> int:
    """Append up to LIST_LIMIT problems; return how many more there were."""
    iterator = iter(rows)
    problems.extend(islice(iterator, LIST_LIMIT))
    return sum(1 for _ in iterator)


def _entry_problems(row: Any) -> Iterator[Problem]:
    """The problems of one row of the by-entry pass (an entry can have several)."""
    order_id, key, entry_id, orphan, n, total, currency, smallest = row
    if orphan:
        yield Problem(None, None, f"{n} posting(s) of entry id {entry_id}, which has no entry")
        return
    if n < 2:
        yield Problem(order_id, key, f"has {n} posting(s); an entry needs at least 2")
    if smallest == 0:
        yield Problem(order_id, key, "has a posting with a zero amount")
    if total:
        yield Problem(order_id, key, f"postings sum to {total} {currency}, not 0")


def check(db: Session) -> LedgerReport:
    """Check the ledger's invariants and every registered order check; nothing is written.

    Two grouped scans of the postings do the work (by account, by entry); the other queries
    touch only reversals, or run only when the scans found something to name.
    """
    for module in CHECK_MODULES:
        importlib.import_module(module)
    dialect = "postgresql" if db.get_bind().dialect.name == "postgresql" else "sqlite"
    problems: list[Problem] = []
    more = 0

    trial: dict[str, int] = {}
    postings = unknown = 0
    if dialect == "postgresql":
        for currency, total, count, on_unknown in db.execute(text(_BY_ACCOUNT[dialect])):
            trial[currency] = int(total)
            postings += int(count)
            unknown += int(on_unknown)
    else:
        total, count, lowest, highest, unknown = db.execute(text(_BY_ACCOUNT[dialect])).one()
        postings = int(count)
        if lowest == highest and lowest is not None:
            trial[lowest] = int(total)
        elif lowest is not None:
            trial = {cur: int(amount) for cur, amount in db.execute(text(_BY_CURRENCY))}
    for currency, total in trial.items():
        if total:
            problems.append(
                Problem(None, None, f"trial balance in {currency} is {total} fen, not 0")
            )

    def run(sql: str, word: Callable[..., str], **params: Any) -> None:
        nonlocal more
        statement = text(sql)
        if "currencies" in params:
            statement = statement.bindparams(bindparam("currencies", expanding=True))
        rows = db.execute(statement, params)
        more += _counted((Problem(row[0], row[1], word(*row[2:])) for row in rows), problems)

    rows = db.execute(text(_BY_ENTRY[dialect]))
    more += _counted((p for row in rows for p in _entry_problems(row)), problems)
    if len(trial) > 1:
        run(_MULTI_CURRENCY, lambda currency, total: f"postings sum to {total} {currency}, not 0")
    if unknown:
        run(
            _UNKNOWN_ACCOUNTS,
            lambda entry_id, line, account_id: (
                f"posting {line} of entry id {entry_id} names account id {account_id}, "
                "which does not exist"
            ),
        )
    bad_currencies = [
        cur for cur in trial if not isinstance(cur, str) or not _CURRENCY.fullmatch(cur)
    ]
    if bad_currencies:
        run(
            _BAD_CURRENCY,
            lambda line, cur: f"posting {line}: bad currency {cur!r}",
            currencies=bad_currencies,
        )
    run(
        _REVERSAL_TARGETS,
        lambda target, target_reverses: (
            f"reverses entry id {target}, which does not exist"
            if target_reverses is None
            else f"reverses entry id {target}, which is itself a reversal"
        ),
    )
    run(
        _REVERSAL_AMOUNTS,
        lambda code, currency, total: (
            f"does not negate its original on {code}: together they leave {total} {currency}"
        ),
    )
    for order_check in _order_checks:
        more += _counted(order_check(db), problems)

    counts = db.execute(
        text("SELECT (SELECT count(*) FROM ledger_entries), (SELECT count(*) FROM ledger_accounts)")
    ).one()
    return LedgerReport(
        balanced=not problems,
        trial_balance=trial,
        entries=int(counts[0]),
        postings=postings,
        accounts=int(counts[1]),
        problems=problems,
        more_problems=more,
    )
