"""Every input file is read one way (shareaudit/plan/files.py): the config, the identities file, the
suppressions, the medical file-type table and the rule texts.

A good file loads; a bad one (unknown key, wrong type, bad value, bad TOML, bytes that are not UTF-8,
10,000-deep nesting) gives exactly one InputError line naming the file, the line and the key.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path

import pytest

from shareaudit.audit import suppress
from shareaudit.classify import TableError, default_table, load_table
from shareaudit.errors import InputError
from shareaudit.plan import config
from shareaudit.plan.files import dotted, read_toml
from shareaudit.plan.identities import load_identities_file
from shareaudit.rules.catalog import CatalogError, family_texts, load_family
from shareaudit.rules.platform import PLATFORMS

DOCS = Path(__file__).resolve().parents[2] / "docs"
DEEP = "a = " + "[" * 10_000 + "]" * 10_000 + "\n"
NOT_UTF8 = b'# comment\nname = "caf\xe9"\n'


def one_line(raised: pytest.ExceptionInfo[InputError]) -> str:
    message = str(raised.value)
    assert "\n" not in message and "\r" not in message, message
    assert "Traceback" not in message
    return message


def line_of(text: str, fragment: str) -> int:
    """The 1-based number of the first line of `text` (not a comment) containing `fragment`."""
    return next(
        number
        for number, line in enumerate(text.splitlines(), 1)
        if fragment in line and not line.lstrip().startswith("#")
    )


def replace_first(text: str, old: str, new: str) -> str:
    """`text` with the first `old` outside comment lines replaced by `new`."""
    lines = text.splitlines(keepends=True)
    number = line_of(text, old.splitlines()[0]) - 1
    rest = "".join(lines[number:])
    assert rest.startswith(old) or old in lines[number], old
    return "".join(lines[:number]) + rest.replace(old, new, 1)


# --- the shared reader ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("loc", "text"),
    [
        (("scan", "timeout"), "scan.timeout"),
        (("suppress", 1, "reason"), "suppress[1].reason"),
        (("identities", "mfp.2f"), 'identities."mfp.2f"'),
        (("x", "a\nb"), 'x."a\\nb"'),  # a key with a line break stays on one line
        ((), ""),
    ],
)
def test_dotted_keys_are_written_as_in_toml(loc: tuple[str | int, ...], text: str) -> None:
    assert dotted(loc) == text


def test_lines_follow_tables_arrays_of_tables_and_multiline_values() -> None:
    text = '''
top = 1
words = [
    "[not.a.table]",
    "x = 1",
]
why = """
[not.a.table.either]
fake = 2
"""

[[suppress]]
rule = "a"

[[suppress]]
rule = "b"
[suppress.extra]
deep.er = 3

["quoted key".sub]
v = 4
'''
    document = read_toml(text, "test", name="t.toml")
    assert document.line_of(("top",)) == 2
    assert document.line_of(("words", 1)) == 3  # an element of an inline array: its key's line
    assert document.line_of(("not",)) == 1  # text inside strings is never taken for a key
    assert document.line_of(("fake",)) == 1
    assert document.line_of(("suppress", 0, "rule")) == 13
    assert document.line_of(("suppress", 1, "rule")) == 16
    assert document.line_of(("suppress", 1, "extra", "deep", "er")) == 18
    assert document.line_of(("suppress", 1, "missing")) == 15  # not written: its table's line
    assert document.line_of(("quoted key", "sub", "v")) == 21
    assert document.key_at(4) == "words"  # a line inside a value belongs to that value's key
    assert document.key_at(18) == "suppress[1].extra.deep.er"


def test_a_byte_order_mark_is_allowed(tmp_path: Path) -> None:
    path = tmp_path / "audit.toml"
    path.write_bytes(b'\xef\xbb\xbftargets = ["nas01"]\n')
    assert config.load(path).targets == ["nas01"]


def test_text_needs_a_name() -> None:
    with pytest.raises(ValueError, match="needs a name"):
        read_toml("a = 1", "test")


# --- common failures, for every file ----------------------------------------------------------------------
def _write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    path.chmod(0o600)  # the identities file must be private
    return path


LOADERS: dict[str, Callable[[Path], object]] = {
    "config": config.load,
    "suppressions": suppress.load,
    "identities": load_identities_file,
    "table": lambda path: load_table(path.read_bytes(), name=str(path)),
    "catalog": lambda path: load_family(path.stem, path.read_bytes()),
}
ERRORS: dict[str, type[InputError]] = {"table": TableError, "catalog": CatalogError}


@pytest.mark.parametrize("kind", sorted(LOADERS))
@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (DEEP, "{path}:1: a: arrays or tables nested too deeply"),
        (
            "[scan]\ntimeout = " + "[" * 10_000 + "]" * 10_000,
            "{path}:2: scan.timeout: arrays or tables nested",
        ),
        (NOT_UTF8, "{path}:2: name: not UTF-8 text (byte 0xe9 at column 12)"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "{path}:1: not UTF-8 text (byte 0x89 at column 1)"),
        (
            'a = 1\nb = ["x",\n  "y"\n',
            "{path}: not valid TOML: Unclosed array (at end of document, line 3) (in b)",
        ),
        ("a = 1\n[x\n", "{path}: not valid TOML: Expected ']' at the end of a table declaration (at line 2,"),
        ("a = 1\na = 2\n", "{path}: not valid TOML: Cannot overwrite a value (at line 2, column 6) (in a)"),
    ],
    ids=["deep", "deep-in-table", "latin-1", "binary", "unclosed", "bad-header", "duplicate"],
)
def test_unreadable_files_give_one_line(
    tmp_path: Path, kind: str, content: str | bytes, expected: str
) -> None:
    path = _write(tmp_path, "input.toml", content)
    name = "input.toml" if kind == "catalog" else str(path)
    with pytest.raises(ERRORS.get(kind, InputError)) as raised:
        LOADERS[kind](path)
    assert one_line(raised).startswith(expected.format(path=name))


def test_package_errors_are_input_errors() -> None:
    assert issubclass(TableError, InputError) and issubclass(CatalogError, InputError)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.toml"
    with pytest.raises(InputError, match=f"cannot read config {missing}: No such file"):
        config.load(missing)
    with pytest.raises(InputError, match=f"cannot read suppressions {missing}: No such file"):
        suppress.load(missing)
    with pytest.raises(InputError, match=f"cannot read identities file {missing}: No such file"):
        load_identities_file(missing)


# --- the config file --------------------------------------------------------------------------------------
def test_the_example_config_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = config.load(DOCS / "audit.example.toml")
    assert loaded.targets and loaded.audit is not None and "printer" in loaded.identities


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('targets = ["a"]\n\n[crawl]\nmax_dept = 3\n', ":4: crawl.max_dept: unknown key"),
        ('[scan]\ntimeout = "fast"\n', ":2: scan.timeout: Input should be a valid number"),
        ('[scan]\nmax_hosts = "3"\n', ":2: scan.max_hosts: Input should be a valid integer"),  # strict
        ("[scan]\nguest = 1\n", ":2: scan.guest: Input should be a valid boolean"),
        ('[output]\nfail_on = "hgh"\n', ":2: output.fail_on: Input should be 'critical'"),
        ("targets = [1]\n", ":1: targets[0]: Input should be a valid string"),
        (
            "[alerts.webhook]\nurl = 'ftp://x'\n",
            ":2: alerts.webhook.url: must start with http:// or https://",
        ),
        ("[audit]\npassword_env = 'X'\n", ":1: audit.user: required key is missing"),
        ("scan = 3\n", ":1: scan: expected a table"),
        (
            '[audit]\nuser = "x"\npassword = "inline"\n',
            ":3: audit.password: unknown key: a password is never written in the file; "
            "use password_env or password_file",
        ),
        (
            '[identities.printer]\naccount = "x"\npassword = "inline"\n',
            ":3: identities.printer.password: unknown key: a password is never written",
        ),
        (
            "[audit]\nuser = 'x'\npassword_env = 'X'\npassword_file = 'pw'\n",
            ":1: audit: give one of password_env, password_file",
        ),
        ('\n[identities.guest]\naccount = "x"\n', ":2: identities.guest: label is reserved"),
        (
            '[identities."9lives"]\naccount = "x"\n',
            ":1: identities.9lives: identity label '9lives' must start",
        ),
    ],
)
def test_bad_config(tmp_path: Path, text: str, expected: str) -> None:
    path = _write(tmp_path, "audit.toml", text)
    with pytest.raises(InputError) as raised:
        config.load(path)
    assert one_line(raised).startswith(f"{path}{expected}")
    assert "inline" not in str(raised.value).replace("inline password", "")


def test_several_problems_are_counted_after_the_first(tmp_path: Path) -> None:
    path = _write(tmp_path, "audit.toml", '[scan]\ntimeout = "x"\nmax_hosts = "y"\nbogus = 1\n')
    with pytest.raises(InputError) as raised:
        config.load(path)
    # Unknown keys first (often a typo of the key that is then reported missing), then the rest.
    assert one_line(raised) == f"{path}:4: scan.bogus: unknown key (and 2 more)"


# --- the identities file ----------------------------------------------------------------------------------
def test_a_good_identities_file_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_MFP_PASSWORD", "Mfp-Secret-1")
    secret = _write(tmp_path, "backup.pw", "Backup-Secret-2\n")
    path = _write(
        tmp_path,
        "identities.toml",
        f'[identities.printer]\naccount = "HOSPITAL\\\\svc-mfp"\npassword_env = "TEST_MFP_PASSWORD"\n\n'
        f'[identities.backup]\naccount = "svc-backup@hospital.example"\npassword_file = "{secret}"\n\n'
        '[identities.scanner]\naccount = "svc-scan"\n',
    )
    loaded = load_identities_file(path)
    assert {label: (domain, user) for label, (domain, user, _) in loaded.items()} == {
        "printer": ("HOSPITAL", "svc-mfp"),
        "backup": ("hospital.example", "svc-backup"),
        "scanner": ("", "svc-scan"),
    }
    secrets = {label: entry[2].reveal() if entry[2] else None for label, entry in loaded.items()}
    assert secrets == {"printer": "Mfp-Secret-1", "backup": "Backup-Secret-2", "scanner": None}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[identities.printer]\naccount = "labscan"\npassword = "Inline-Secret-1"\n',
            ":3: identities.printer.password: unknown key: a password is never written in the file; "
            "use password_env or password_file",
        ),
        (
            '[identities.printer]\naccount = "x"\npasword = "typo"\n',
            ":3: identities.printer.pasword: unknown key",
        ),
        (
            "[identities.printer]\naccount = 3\n",
            ":2: identities.printer.account: Input should be a valid string",
        ),
        (
            "[identities.printer]\npassword_env = 'X'\n",
            ":1: identities.printer.account: required key is missing",
        ),
        (
            '[identities.printer]\naccount = ""\n',
            ":2: identities.printer.account: String should have at least",
        ),
        (
            '[identities.printer]\naccount = "LAB\\\\"\n',
            ":2: identities.printer.account: account 'LAB\\\\' has no",
        ),
        ('[printer]\naccount = "x"\n', ":1: printer: unknown key"),
        ("identities = 3\n", ":1: identities: expected a table"),
        ('[identities.anonymous]\naccount = "x"\n', ":1: identities.anonymous: label is reserved"),
        (
            '[identities.printer]\naccount = "x"\npassword_env = "A"\npassword_file = "b"\n',
            ":1: identities.printer: give one of password_env, password_file",
        ),
        (
            '[identities.printer]\naccount = "x"\npassword_env = ""\n',
            ":3: identities.printer.password_env: String should have at least 1 character",
        ),
        (
            '\n[identities.printer]\naccount = "x"\npassword_env = "TEST_UNSET_VARIABLE"\n',
            ":4: identities.printer.password_env: environment variable TEST_UNSET_VARIABLE is not set",
        ),
        (
            '[identities.printer]\naccount = "x"\npassword_file = "/nonexistent/pw"\n',
            ":3: identities.printer.password_file: cannot read password file /nonexistent/pw",
        ),
    ],
)
def test_bad_identities_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, expected: str
) -> None:
    monkeypatch.delenv("TEST_UNSET_VARIABLE", raising=False)
    path = _write(tmp_path, "identities.toml", text)
    with pytest.raises(InputError) as raised:
        load_identities_file(path)
    assert one_line(raised).startswith(f"{path}{expected}")
    assert "Inline-Secret-1" not in str(raised.value)
    assert raised.value.__cause__ is None  # nothing that holds the file's values rides along


def test_a_shared_identities_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = _write(tmp_path, "identities.toml", "not toml at all [")
    path.chmod(0o644)
    with pytest.raises(InputError) as raised:
        load_identities_file(path)
    assert one_line(raised) == (
        f"identities file {path} is readable by group or others (mode 0644); run: chmod 600 {path}"
    )


# --- suppressions -----------------------------------------------------------------------------------------
def test_the_example_suppressions_load() -> None:
    rules = suppress.load(DOCS / "suppressions.example.toml")
    assert rules and all(rule.reason and rule.owner for rule in rules)


SUPPRESSIONS = """# accepted risks
[[suppress]]
fingerprint = "0123456789abcdef"
reason = "r"
owner = "o"
expires = 2027-01-31

[[suppress]]
rule = "unprivileged-write"
host = "nas01"
reason = "r"
owner = "o"
expires = 2027-01-31
"""


def test_quoted_dates_are_accepted(tmp_path: Path) -> None:
    path = _write(tmp_path, "s.toml", SUPPRESSIONS.replace("expires = 2027-01-31", 'expires = "2027-01-31"'))
    assert [str(rule.expires) for rule in suppress.load(path)] == ["2027-01-31", "2027-01-31"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (('host = "nas01"', 'hots = "nas01"'), ":10: suppress[1].hots: unknown key"),
        (('host = "nas01"', "host = 1"), ":10: suppress[1].host: Input should be a valid string"),
        (('owner = "o"\nexpires = 2027-01-31\n\n', ""), ":2: suppress[0].owner: required key is missing"),
        (
            ("expires = 2027-01-31\n", 'expires = "soon"\n'),
            ":6: suppress[0].expires: Input should be a valid date",
        ),
        (('rule = "unprivileged-write"\n', ""), ":8: suppress[1]: give a fingerprint, or a rule"),
        (("[[suppress]]\nrule", "[[supress]]\nrule"), ":8: supress: unknown key"),
    ],
)
def test_bad_suppressions(tmp_path: Path, change: tuple[str, str], expected: str) -> None:
    old, new = change
    assert old in SUPPRESSIONS
    path = _write(tmp_path, "s.toml", SUPPRESSIONS.replace(old, new, 1))
    with pytest.raises(InputError) as raised:
        suppress.load(path)
    assert one_line(raised).startswith(f"{path}{expected}")


# --- the medical file-type table --------------------------------------------------------------------------
TABLE = (resources.files("shareaudit") / "data" / "filetypes.toml").read_text(encoding="utf-8")


def test_the_shipped_table_loads() -> None:
    assert default_table().types and load_table(TABLE.encode()).types == default_table().types


def _type_index(text: str, line: int) -> int:
    """Which [[type]] (0-based) the line belongs to."""
    return sum(1 for row in text.splitlines()[:line] if row.strip() == "[[type]]") - 1


@pytest.mark.parametrize(
    ("old", "new", "key", "message"),
    [
        ("schema = 1", 'schema = "1"', "schema", "Input should be a valid integer"),
        ("schema = 1", "schema = 2", "schema", "must be 1"),
        ('id = "dicomdir"', 'id = "DICOMDIR"', "type[{t}].id", "must be a lowercase identifier"),
        ('id = "dicomdir"', 'id = "dicomdir"\nlabel2 = "x"', "type[{t}].label2", "unknown key"),
        (
            'exact = ["dicomdir"]',
            'exact = ["dicomdir"]\nsuffixes = [".dd"]',
            "type[{t}].name[0]",
            "give exactly one",
        ),
        ('action = "medical"', 'action = "maybe"', "type[{t}].name[0].action", "Input should be 'medical'"),
        ('confidence = "medium"', 'confidence = "sure"', "type[{t}].name[0].confidence", "Input should be"),
        ("offset = 128", "offset = 99999", "type[{t}].content[0].at[0].offset", "must be an integer"),
        (
            "offset = 128",
            'offset = "128"',
            "type[{t}].content[0].at[0].offset",
            "Input should be a valid integer",
        ),
        (
            'check = "dicom_media_storage_class"',
            'check = "nope"',
            "type[{t}].content[0].check",
            "unknown check",
        ),
        ('exact = ["dicomdir"]', 'exact = ["dicomdir", "DICOMDIR"]', "type[{t}].name[0].exact", "already in"),
        ('suffixes = [".hdr", ".img"]', 'suffixes = ["hdr"]', "sniff[0].suffixes", "bad suffix 'hdr'"),
        ("[[sniff]]", "[[sniff]]\nconfidence = 'weak'", "sniff[0].confidence", "unknown key"),
    ],
)
def test_bad_table(old: str, new: str, key: str, message: str) -> None:
    text = replace_first(TABLE, old, new)
    changed = line_of(text, new.splitlines()[-1])
    if key.startswith("type[{t}]"):
        key = key.format(t=_type_index(text, changed))
    with pytest.raises(TableError) as raised:
        load_table(text)
    got = one_line(raised)
    prefix = f"filetypes.toml:{changed}: {key}: "
    if key.endswith("name[0]"):  # an entry-level problem: the line of its [[type.name]] header
        prefix = f"filetypes.toml:{line_of(text, new.splitlines()[0]) - 1}: {key}: "
    assert got.startswith(prefix) and message in got, got


def test_the_table_must_define_the_unreadable_archive_type() -> None:
    text = replace_first(TABLE, 'id = "unreadable_archive"', 'id = "other_archive"')
    with pytest.raises(TableError) as raised:
        load_table(text)
    assert one_line(raised) == (
        f"filetypes.toml:{line_of(text, '[[type]]')}: type: the table must define 'unreadable_archive'"
    )


# --- rule texts -------------------------------------------------------------------------------------------
STEPS = "\n".join(f'{platform} = ["Check {{{{share}}}} on {{{{host_sh}}}}"]' for platform in PLATFORMS)
RULE = f"""# a family
[first-rule]
title = "A title"
severity = "high"
why = \"\"\"
Why it matters.
\"\"\"
caveats = ["A caveat."]

[first-rule.remediation]
{STEPS}
"""


def test_good_rule_texts_load() -> None:
    texts = load_family("x", RULE)
    assert texts["first-rule"].severity == "high" and texts["first-rule"].why == "Why it matters."
    assert list(texts["first-rule"].remediation) == list(PLATFORMS)
    assert family_texts("access")  # the shipped files load


@pytest.mark.parametrize(
    ("old", "new", "line", "expected"),
    [
        ('severity = "high"', 'severity = "urgent"', 4, "first-rule.severity: must be one of critical, high"),
        ('severity = "high"', "severity = 1", 4, "first-rule.severity: Input should be a valid string"),
        ('title = "A title"', 'title = "  "', 3, "first-rule.title: must not be empty"),
        ('title = "A title"', 'titel = "A title"', 3, "first-rule.titel: unknown key (and 1 more)"),
        (
            'caveats = ["A caveat."]',
            'caveats = "A caveat."',
            8,
            "first-rule.caveats: Input should be a valid list",
        ),
        ("windows = ", "beos = ", 11, "first-rule.remediation: needs exactly the platforms"),
        ("samba = [", "samba = [1, ", 12, "first-rule.remediation.samba[0]: Input should be a valid string"),
        (
            "{{host_sh}}",
            "{{hots_sh}}",
            11,
            "first-rule.remediation.windows[0]: unknown placeholder {{hots_sh}}",
        ),
    ],
)
def test_bad_rule_texts(old: str, new: str, line: int, expected: str) -> None:
    assert old in RULE
    with pytest.raises(CatalogError) as raised:
        load_family("access", RULE.replace(old, new, 1))
    got = one_line(raised)
    if "remediation:" in expected:
        line = 10  # the [first-rule.remediation] table
    assert got.startswith(f"access.toml:{line}: {expected}"), got


def test_platforms_are_named_when_missing_or_unknown() -> None:
    with pytest.raises(CatalogError) as raised:
        load_family("x", RULE.replace("windows = ", "beos = ", 1))
    assert one_line(raised).endswith(
        f"needs exactly the platforms {', '.join(PLATFORMS)} (missing windows; unknown beos)"
    )
