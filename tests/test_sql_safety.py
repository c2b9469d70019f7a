"""No string-formatted SQL in the package (issue #10's security check), except reviewed places.

Walks every module's AST: a call to `text()`, `exec_driver_sql()`, `execute()` or
`op.execute()` whose SQL argument is an f-string, a `%` format, `.format()` / `.join()`, a
concatenation involving one of those — or a local variable assigned such an expression in the
same function (flows through return values or attributes are not followed) — is a finding. Values always travel as bound parameters; what may be formatted
into SQL is only identifiers and numbers ironstore itself controls. Each reviewed place is listed
below with what it interpolates and why that is safe; a new finding fails until reviewed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import ironstore

PACKAGE = Path(ironstore.__file__).parent
SINKS = {"text", "exec_driver_sql", "execute", "fetch", "fetchval", "fetchrow"}  # + asyncpg's

REVIEWED = {
    ("migrations.py", "_libsql_fk_actions"): "PRAGMA takes no parameters; table names come from MetaData",
    ("search/vector.py", "_sql_candidates"): "scope_sql() fragments, CANDIDATE_COLUMNS, int dimension and "
        "the pgvector cast derived from it",
    ("search/vector.py", "drop_vector_index"): "the index name is built from an int dimension (vector_index_name)",
    ("search/vector.py", "_rows_of"): "CANDIDATE_COLUMNS constant; ids are an expanding bind parameter",
    ("search/vector.py", "_scope_rows_sql"): "scope_sql() fragment, a fixed select list, int dimension",
    ("search/fulltext.py", "fts_candidates"): "scope_sql() fragment and CANDIDATE_COLUMNS; the query text is bound",
    ("testing.py", "_reset"): "table names read from pg_tables of the test database, double-quoted",
    ("testing.py", "_read_template"): "table names read from pg_tables of the template, double-quoted",
}


def _formatted(node: ast.AST | None, tainted: set[str]) -> bool:
    if isinstance(node, ast.JoinedStr):
        return any(isinstance(v, ast.FormattedValue) for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        return isinstance(node.left, (ast.Constant, ast.JoinedStr))
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _formatted(node.left, tainted) or _formatted(node.right, tainted)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.attr in ("format", "join")
    if isinstance(node, ast.Name):
        return node.id in tainted
    return False


def findings() -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        if "trees" in path.parts:
            continue
        module = path.relative_to(PACKAGE).as_posix()
        for function in ast.walk(ast.parse(path.read_text())):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            tainted: set[str] = set()
            for node in ast.walk(function):
                if isinstance(node, ast.Assign) and _formatted(node.value, tainted):
                    tainted |= {t.id for t in node.targets if isinstance(t, ast.Name)}
            for node in ast.walk(function):
                if not isinstance(node, ast.Call) or not node.args:
                    continue
                name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
                if name in SINKS and _formatted(node.args[0], tainted):
                    found.add((module, function.name))
    return found


def test_no_unreviewed_string_formatted_sql() -> None:
    assert findings() - set(REVIEWED) == set()


def test_the_review_list_has_no_stale_entries() -> None:
    assert set(REVIEWED) - findings() == set()


def test_the_check_finds_what_it_looks_for(tmp_path: Path) -> None:
    sample = ast.parse('def f(conn, name):\n    sql = f"SELECT * FROM {name}"\n    conn.execute(text(sql))\n')
    function = sample.body[0]
    assert isinstance(function, ast.FunctionDef)
    tainted = {"sql"}
    call = function.body[1].value  # type: ignore[attr-defined]
    assert _formatted(call.args[0].args[0], tainted)
    assert not _formatted(ast.parse("'SELECT 1'").body[0].value, set())  # type: ignore[attr-defined]
