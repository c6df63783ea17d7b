"""Sample, don't hoover: a bounded walk of one share that finds medical data and keeps no content.

The walk is breadth first, in batches of directories listed in parallel (smb/walk.py). Every file name
is classified (classify/); names that cannot decide have their first 4 KiB read (at most
`max_sniff` per share), and ZIP archives their central directory. Nothing read is kept beyond the
type decision. Within one directory, many files of one name shape and size class are sampled
(sampling.py): when a spread sample is one medical type throughout, the rest are counted as that type
unread and marked as extrapolated; otherwise the rest are read too. Files shorter than any signature
are not read at all. The budget goes first to the files likeliest to be medical: ordinary formats read
only because a few medical ones share them (.txt, .xml, .json, .gz outside a medical location), and then
the reads that only refine a type the name decided, wait for the end of the walk and take what is left.
What is kept is bounded whatever the share's size: counts per type, the directories
with the most medical files, study stores, a few redacted samples. Each medical file found is also
handed to `on_medical` as it is found, so a caller can stream an inventory to disk.

Every file name is also looked at for signs of intrusion and for credentials (classify/lookout.py), and
each directory's names for an encryption sweep while it is listed; the few heads those checks want are
read with the medical ones, within the same `max_sniff`. Only kinds, reasons and keyed fingerprints are
kept, never a secret.

When a bound stops the walk, the counts are extrapolated from what was seen (directories found but
not listed times the mean entries per listed directory) and marked as estimates.
"""

from __future__ import annotations

import fnmatch
import hashlib
import heapq
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from itertools import groupby
from operator import itemgetter

from shareaudit.classify import (
    HEAD_LIMIT,
    ArchiveFormat,
    CentralDirectoryRead,
    NameOutcome,
    NameVerdict,
    Verdict,
    ZipListing,
    classify_name,
    parse_central_directory,
    parse_zip_tail,
    resolve,
    sniff,
    zip_tail_range,
)
from shareaudit.classify.archive import entry_head, entry_head_ranges, judge_zip
from shareaudit.classify.lookout import (
    Look,
    Looked,
    directory_sweep,
    is_drop_directory,
    look_at_head,
    look_at_name,
    look_unread,
)
from shareaudit.classify.table import REFINE_PER_DIRECTORY, REFINE_SNIFF_SHARE, default_table
from shareaudit.collect.sampling import GroupKey, agreement, group_key, min_signature_size, sample_indices
from shareaudit.collect.walk import Entry, Lister, RateLimit
from shareaudit.errors import CollectError
from shareaudit.model import (
    Confidence,
    Content,
    CredentialFile,
    DirectorySummary,
    MedicalCount,
    Sign,
    SignKind,
    StudyStore,
    WalkStats,
)
from shareaudit.redact import Redactor, looks_identifying

SAMPLES = 10  # redacted example paths kept per share
TOP_DIRECTORIES = 20  # directories with the most medical files kept per share
STUDY_DIRECTORY_MIN = 10  # a directory with this many DICOM files is an imaging study store
TRACKED_DIRECTORIES = 20_000  # per-directory counts kept in memory, whatever the share's size
_DICOM_TYPES = frozenset({"dicom", "dicom_ecg"})  # images and waveforms; the DICOMDIR is the index
SIGNS_PER_KIND = 20  # signs of intrusion kept per kind per share (all are counted)
CREDENTIAL_FILES = 50  # credential files kept per share (all are counted)
# Files read only for the intrusion/credential checks may use at most this share of --max-sniff, so that
# medical sniffing keeps the rest whatever a share holds (a read both want counts once, against neither cap).
LOOK_SNIFF_SHARE = 0.2


@dataclass(frozen=True, slots=True)
class CrawlBounds:
    """How far a walk may go; every bound is configurable from the command line and the config file."""

    max_depth: int = 12
    max_entries: int = 200_000  # per share
    max_dir_entries: int = 20_000  # entries taken from one directory
    time_budget: float = 300.0  # seconds per share
    rate: float = 1000.0  # requests per second per share walk; 0 = unlimited
    sniff: bool = True
    max_sniff: int = 5_000  # files per share whose first bytes may be read
    in_flight: int = 16  # compounds outstanding at once, per connection
    # SMB connections a share walk spreads its compounds over (Samba serves each with one process).
    connections: int = 2
    sample: bool = True  # read a sample of many like files in one folder, not every one (sampling.py)


@dataclass(frozen=True, slots=True)
class MedicalFile:
    """One medical file as it may leave the walk: redacted path, type, size, time. No content."""

    path: str
    type_id: str
    confidence: str
    size: int
    mtime: float
    estimated: bool = False  # its type comes from a sample of like files; it was not read


MedicalSink = Callable[[MedicalFile], None]


@dataclass
class _Tally:
    """Running aggregates of one walk; bounded in memory."""

    redactor: Redactor
    on_medical: MedicalSink | None
    entries: int = 0
    files: int = 0
    dirs: int = 0
    denied: int = 0
    bytes: int = 0
    sniffed: int = 0
    too_small: int = 0
    sampled_groups: int = 0
    listings: int = 0
    reads: int = 0
    # type -> [count, bytes, best rank, extrapolated count, sample files read for them]
    medical: dict[str, list[int]] = field(default_factory=dict)
    per_dir: dict[str, dict[str, int]] = field(default_factory=dict)
    per_dir_bytes: dict[str, int] = field(default_factory=dict)
    dicomdirs: list[str] = field(default_factory=list)
    samples: list[str] = field(default_factory=list)
    newest: float = 0.0
    oldest: float = 0.0
    signs: list[Sign] = field(default_factory=list)
    sign_counts: dict[str, int] = field(default_factory=dict)
    credentials: list[CredentialFile] = field(default_factory=list)
    credentials_found: int = 0

    def add_sign(self, sign: Sign) -> None:
        found = self.sign_counts.get(sign.kind, 0)
        self.sign_counts[sign.kind] = found + 1
        if found < SIGNS_PER_KIND:
            self.signs.append(sign)

    def add_credential(self, credential: CredentialFile) -> None:
        self.credentials_found += 1
        if len(self.credentials) < CREDENTIAL_FILES:
            self.credentials.append(credential)

    def add(
        self, directory: str, entry: Entry, verdict: Verdict, estimated: bool = False, stream: bool = True
    ) -> None:
        """Count one medical file; `stream=False`: its type may still change (`refined` streams it)."""
        type_id, confidence = verdict.type_id, verdict.confidence
        count = self.medical.setdefault(type_id, [0, 0, 0, 0, 0])
        count[0] += 1
        count[1] += entry.size
        count[2] = max(count[2], confidence.rank)
        count[3] += 1 if estimated else 0
        if directory in self.per_dir or len(self.per_dir) < TRACKED_DIRECTORIES:
            types = self.per_dir.setdefault(directory, {})
            types[type_id] = types.get(type_id, 0) + 1
            self.per_dir_bytes[directory] = self.per_dir_bytes.get(directory, 0) + entry.size
        if type_id == "dicomdir" and len(self.dicomdirs) < TRACKED_DIRECTORIES:
            self.dicomdirs.append(directory)
        if entry.mtime:
            self.newest = max(self.newest, entry.mtime)
            self.oldest = min(self.oldest, entry.mtime) if self.oldest else entry.mtime
        # Redacting costs a keyed hash per path component: only for the samples and the inventory.
        sample = not estimated and len(self.samples) < SAMPLES  # samples are files whose type was seen
        streamed = stream and self.on_medical is not None
        if not sample and not streamed:
            return
        redacted = self.redactor.path(_join(directory, entry.name), type_id)
        if sample:
            self.samples.append(redacted)
        if streamed and self.on_medical:
            self.on_medical(MedicalFile(redacted, type_id, confidence, entry.size, entry.mtime, estimated))

    def refined(self, directory: str, entry: Entry, named: Verdict, found: Verdict) -> None:
        """A file counted by its name (`add`, not streamed) whose head named `found`: move it there, stream it."""
        if found.type_id != named.type_id:
            old = self.medical[named.type_id]
            old[0] -= 1
            old[1] -= entry.size
            if old[0] == 0:
                del self.medical[named.type_id]
            count = self.medical.setdefault(found.type_id, [0, 0, 0, 0, 0])
            count[0] += 1
            count[1] += entry.size
            types = self.per_dir.get(directory)
            if types is not None:
                types[named.type_id] -= 1
                if types[named.type_id] == 0:
                    del types[named.type_id]
                types[found.type_id] = types.get(found.type_id, 0) + 1
            if found.type_id == "dicomdir" and len(self.dicomdirs) < TRACKED_DIRECTORIES:
                self.dicomdirs.append(directory)
        self.medical[found.type_id][2] = max(self.medical[found.type_id][2], found.confidence.rank)
        if self.on_medical:
            redacted = self.redactor.path(_join(directory, entry.name), found.type_id)
            self.on_medical(
                MedicalFile(redacted, found.type_id, found.confidence, entry.size, entry.mtime, False)
            )


def _iso(timestamp: float) -> str | None:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds") if timestamp else None


def _join(directory: str, name: str) -> str:
    return f"{directory}\\{name}" if directory else name


def _study_stores(tally: _Tally) -> tuple[StudyStore, ...]:
    stores: list[StudyStore] = []
    for directory in sorted(set(tally.dicomdirs)):
        files = sum(
            sum(n for t, n in types.items() if t in _DICOM_TYPES)
            for path, types in tally.per_dir.items()
            if path == directory or path.startswith(directory + "\\") or not directory
        )
        stores.append(
            StudyStore(tally.redactor.path(directory, None) if directory else "", "dicomdir", files)
        )
    for path, types in tally.per_dir.items():
        dicom = sum(n for t, n in types.items() if t in _DICOM_TYPES)
        covered = any(path == d or path.startswith(d + "\\") or not d for d in tally.dicomdirs)
        if dicom >= STUDY_DIRECTORY_MIN and not covered:
            stores.append(StudyStore(tally.redactor.path(path, None), "dicom_directory", dicom))
    return tuple(stores)


def _directories(tally: _Tally) -> tuple[DirectorySummary, ...]:
    top = heapq.nlargest(TOP_DIRECTORIES, tally.per_dir.items(), key=lambda item: sum(item[1].values()))
    return tuple(
        DirectorySummary(tally.redactor.path(path, None), dict(types), tally.per_dir_bytes.get(path, 0))
        for path, types in top
    )


@dataclass
class _WalkState:
    """Progress of one walk, and what it knows exists but did not take."""

    stopped: bool = False
    listed_dirs: int = 0
    listed_entries: int = 0
    unseen_entries: int = 0
    unlisted_dirs: int = 0
    reported: int = 0  # entries already reported to on_entries


@dataclass
class _Group:
    """Like files of one folder whose names cannot decide their type: a sample of them is read first."""

    directory: str
    members: list[tuple[Entry, NameVerdict]]
    sample: tuple[int, ...]  # indices into members
    results: list[Verdict | str | None] = field(default_factory=list)  # per sampled file, as read


# A file whose head medical sniffing reads: (directory, entry, name verdict, the group it is a sample of).
_Sniff = tuple[str, Entry, NameVerdict, _Group | None]


class ShareCrawl:
    """One bounded walk of one share as one identity."""

    def __init__(
        self,
        walker: Lister,
        identity: str,
        bounds: CrawlBounds,
        redactor: Redactor,
        on_medical: MedicalSink | None = None,
        on_entries: Callable[[int], None] | None = None,
        rate_limit: RateLimit | None = None,
    ) -> None:
        self.walker = walker
        self.identity = identity
        self.bounds = bounds
        self.tally = _Tally(redactor, on_medical)
        self.on_entries = on_entries  # told how many more entries each batch took (progress display)
        self.rate_limit = rate_limit  # the walker's, to say how long the walk waited for it
        self.bounds_hit: list[str] = []
        self.sniff_queue: list[_Sniff] = []
        # Files whose head the intrusion and credential checks want (lookout.py), by path; `look_reads`
        # counts those not also in sniff_queue (their own read, within the same --max-sniff).
        self.look_queue: dict[str, tuple[str, Entry, Look]] = {}
        self.look_reads = 0
        self.look_cap = max(1, int(bounds.max_sniff * LOOK_SNIFF_SHARE)) if bounds.max_sniff else 0
        self.zip_queue: list[tuple[str, Entry, NameVerdict]] = []
        # Optional reads that let the content name a more specific type than the name (NameVerdict.refine):
        # a share of --max-sniff in all, a few per directory, never counted as a bound hit.
        self.refine_cap = int(bounds.max_sniff * REFINE_SNIFF_SHARE)
        self.refine_directory: tuple[str, int] = ("", 0)
        # Reads that can wait for the end of the walk, when the files likelier to be medical have had the
        # sniff budget first: ordinary formats read anywhere (NameVerdict.later; at most --max-sniff of them
        # held), then the refinements. In walk order, so one directory's like files are still sampled together.
        self.later: list[tuple[str, Entry, NameVerdict]] = []
        self.refines: list[tuple[str, Entry, Verdict]] = []
        self.min_size = min_signature_size(default_table())  # a shorter file matches no content rule

    def _hit(self, bound: str) -> None:
        if bound not in self.bounds_hit:
            self.bounds_hit.append(bound)

    def _classify(
        self,
        directory: str,
        entry: Entry,
        groups: dict[GroupKey, list[tuple[Entry, NameVerdict]]],
        alone: bool,
    ) -> bool:
        """Decide by name, or queue the file to be read (`alone`: never as part of a sample).

        True when its head is queued for medical sniffing, so a look at the same head costs nothing more.
        """
        path = _join(directory, entry.name)
        verdict = classify_name(path)
        if verdict.outcome is NameOutcome.MEDICAL and verdict.verdict is not None:
            if verdict.refine and self._may_refine(directory):
                # Counted by its name now (kept if the walk stops), its head read last, when the budget allows.
                self.tally.add(directory, entry, verdict.verdict, stream=False)
                self.refines.append((directory, entry, verdict.verdict))
            else:
                self.tally.add(directory, entry, verdict.verdict)
        elif verdict.outcome is NameOutcome.SNIFF:
            if not self.bounds.sniff:
                self._settle(directory, entry, verdict, None, read=False)
            elif entry.size < self.min_size:
                # Shorter than any signature: what reading it would show is already known.
                self.tally.too_small += 1
                self._settle(directory, entry, verdict, None, read=True)
            elif verdict.later and not alone:
                if len(self.later) < self.bounds.max_sniff:
                    self.later.append((directory, entry, verdict))
                else:
                    self._hit("sniff")
                    self._settle(directory, entry, verdict, None, read=False)
            elif self.bounds.sample and not alone:
                groups.setdefault(group_key(entry.name, entry.size), []).append((entry, verdict))
            else:
                return self._queue_sniff(directory, entry, verdict, None)
        elif verdict.outcome is NameOutcome.ARCHIVE:
            if verdict.archive is ArchiveFormat.ZIP and self.bounds.sniff and self._budget_left():
                self.zip_queue.append((directory, entry, verdict))
            else:
                if verdict.archive is ArchiveFormat.ZIP and self.bounds.sniff:
                    self._hit("sniff")
                self._settle(directory, entry, verdict, None, read=False)
        return False

    def _budget_left(self, reads: int = 1) -> bool:
        return self._budget() >= reads

    def _queue_sniff(self, directory: str, entry: Entry, verdict: NameVerdict, group: _Group | None) -> bool:
        """Queue a head to be read within --max-sniff; past it, the name's verdict stands and the bound is hit."""
        if self._budget_left():
            self.sniff_queue.append((directory, entry, verdict, group))
            return True
        self._hit("sniff")
        self._settle(directory, entry, verdict, None, read=False)
        return False

    def _sample(self, directory: str, groups: dict[GroupKey, list[tuple[Entry, NameVerdict]]]) -> None:
        """Queue each group of like files: a spread sample of a large one, every file of a small one."""
        for members in groups.values():
            sample = sample_indices(len(members))
            if len(sample) == len(members) or not self._budget_left(len(sample)):
                for entry, verdict in members:
                    self._queue_sniff(directory, entry, verdict, None)
                continue
            group = _Group(directory, members, sample)
            for index in sample:
                entry, verdict = members[index]
                self.sniff_queue.append((directory, entry, verdict, group))

    def _decide(self, group: _Group) -> None:
        """A sample that agrees stands for the rest of its group; any other sample has the rest read too."""
        verdict = agreement(group.results)
        sampled = set(group.sample)
        rest = [member for index, member in enumerate(group.members) if index not in sampled]
        if verdict is None:
            for entry, name in rest:
                self._queue_sniff(group.directory, entry, name, None)
            return
        self.tally.sampled_groups += 1
        for entry, _ in rest:
            self.tally.add(group.directory, entry, verdict, estimated=True)
        self.tally.medical[verdict.type_id][4] += len(group.sample)

    def _may_refine(self, directory: str) -> bool:
        name, count = self.refine_directory
        count = count + 1 if name == directory else 1
        if not self.bounds.sniff or count > REFINE_PER_DIRECTORY or self.refine_cap <= 0:
            return False
        self.refine_directory = (directory, count)
        self.refine_cap -= 1
        return True

    def _reads_planned(self) -> int:
        return self.tally.sniffed + len(self.sniff_queue) + len(self.zip_queue) + self.look_reads

    def _look(self, directory: str, entry: Entry, look: Look, drop: bool, shared: bool) -> None:
        """Signs of intrusion and credentials: by name, and by the head within the sniff bound.

        `shared`: medical sniffing already reads this file's head.
        """
        if look.checks and self.bounds.sniff:
            if shared or (self._reads_planned() < self.bounds.max_sniff and self.look_cap > 0):
                self.look_queue[_join(directory, entry.name)] = (directory, entry, look)
                if not shared:
                    self.look_reads += 1
                    self.look_cap -= 1
                return
            self._hit("sniff")
        self._record(directory, entry, look_unread(look), drop)

    def _fingerprint(self, secret: bytes) -> str:
        # Keyed (the installation's redaction key) over the secret's SHA-256: comparable across runs,
        # useless without the key, and the secret itself goes no further than this line.
        return self.tally.redactor.token("secret", hashlib.sha256(secret).hexdigest())

    def _account(self, account: str | None) -> str | None:
        redactor = self.tally.redactor
        if account is None or redactor.show_names or not looks_identifying(account):
            return account
        return redactor.token("name", account)

    def _record(self, directory: str, entry: Entry, looked: Looked, drop: bool) -> None:
        path = self.tally.redactor.path(_join(directory, entry.name), None)
        where = self.tally.redactor.path(directory, None)
        for hit in looked.signs:
            self.tally.add_sign(
                Sign(hit.kind, path, where, drop, hit.why, entry.size, _iso(entry.mtime), target=hit.target)
            )
        credential = looked.credential
        if credential is not None:
            secrets = tuple(replace(s, account=self._account(s.account)) for s in credential.secrets)
            self.tally.add_credential(
                CredentialFile(
                    path,
                    credential.kind,
                    credential.why,
                    entry.size,
                    _iso(entry.mtime),
                    secrets,
                    credential.found,
                )
            )

    def _sweep(self, directory: str, files: list[Entry], drop: bool) -> None:
        """An encryption sweep: most of this directory's files renamed to one unusual extension."""
        sweep = directory_sweep([entry.name for entry in files])
        if sweep is None:
            return
        swept = [entry for entry in files if entry.name.lower().endswith("." + sweep.extension)]
        where = self.tally.redactor.path(directory, None)
        self.tally.add_sign(
            Sign(
                SignKind.ENCRYPTION_SWEEP,
                where,
                where,
                drop,
                sweep.why,
                sum(entry.size for entry in swept),
                _iso(max((entry.mtime for entry in swept), default=0.0)),
                extension=sweep.extension,
                files=sweep.files,
            )
        )

    def _settle(
        self, directory: str, entry: Entry, name: NameVerdict, content: Verdict | None, read: bool
    ) -> None:
        verdict = resolve(name, content, content_read=read)
        if verdict is not None:
            self.tally.add(directory, entry, verdict)

    def _drain_sniffs(self) -> None:
        # A group whose sample disagrees queues the rest of it: read them in the same drain.
        while self.sniff_queue or self.look_queue:
            self._drain_sniff_round()

    def _drain_sniff_round(self) -> None:
        queue, self.sniff_queue = self.sniff_queue, []
        looks, self.look_queue, self.look_reads = self.look_queue, {}, 0
        paths = [_join(d, e.name) for d, e, _, _ in queue]
        medical = set(paths)
        wanted = paths + [p for p in looks if p not in medical]
        self.tally.reads += len(wanted)
        heads = dict(self.walker.read_heads(wanted, HEAD_LIMIT))
        for path, (directory, entry, look) in looks.items():
            head = heads.get(path)
            if isinstance(head, bytes):
                self.tally.sniffed += 0 if path in medical else 1
                looked = look_at_head(look, head, self._fingerprint)
            else:
                looked = look_unread(look)
            self._record(directory, entry, looked, look.drop)
        decided: list[_Group] = []
        for (directory, entry, name, group), path in zip(queue, paths, strict=True):
            head = heads.get(path)
            content = sniff(head, path) if isinstance(head, bytes) else None
            self.tally.sniffed += 1 if isinstance(head, bytes) else 0
            self._settle(directory, entry, name, content, isinstance(head, bytes))
            if group is not None:
                group.results.append(content if isinstance(head, bytes) else (head or "not read"))
                if len(group.results) == len(group.sample):
                    decided.append(group)
        for group in decided:
            self._decide(group)

    def _drain_zips(self) -> None:
        queue, self.zip_queue = self.zip_queue, []
        ranges = []
        for directory, entry, _ in queue:
            window = zip_tail_range(entry.size)
            ranges.append((_join(directory, entry.name), window.offset, window.length))
        self.tally.reads += len(ranges)
        tails = dict(self.walker.read_ranges(ranges))
        listings: dict[str, tuple[ZipListing, int]] = {}
        for directory, entry, _ in queue:
            path = _join(directory, entry.name)
            tail = tails.get(path)
            if not isinstance(tail, bytes):
                continue
            self.tally.sniffed += 1
            parsed = parse_zip_tail(tail, entry.size)
            if isinstance(parsed, CentralDirectoryRead):
                # The central directory lies before the tail: one more bounded read.
                self.tally.reads += 1
                more = dict(self.walker.read_ranges([(path, parsed.range.offset, parsed.range.length)]))
                directory_bytes = more.get(path)
                if isinstance(directory_bytes, bytes):
                    parsed = parse_central_directory(directory_bytes, parsed.entries, parsed.prefix)
            if isinstance(parsed, ZipListing):
                listings[path] = (parsed, entry.size)
        heads = self._entry_heads(listings)
        for directory, entry, name in queue:
            path = _join(directory, entry.name)
            listed = listings.get(path)
            content = judge_zip(listed[0], heads.get(path, {})) if listed else None
            self._settle(directory, entry, name, content, isinstance(tails.get(path), bytes))

    def _entry_heads(self, listings: dict[str, tuple[ZipListing, int]]) -> dict[str, dict[str, bytes]]:
        """The first bytes of the few entries each ZIP's names leave undecided: the i-th of every ZIP per batch."""
        plans = {path: entry_head_ranges(listing, size) for path, (listing, size) in listings.items()}
        heads: dict[str, dict[str, bytes]] = {}
        for index in range(max((len(plan) for plan in plans.values()), default=0)):
            batch = [(path, plan[index]) for path, plan in plans.items() if index < len(plan)]
            self.tally.reads += len(batch)
            read = dict(self.walker.read_ranges([(path, w.offset, w.length) for path, (_, w) in batch]))
            for path, (member, _) in batch:
                data = read.get(path)
                head = entry_head(member, data) if isinstance(data, bytes) else None
                if head:
                    heads.setdefault(path, {})[member.name] = head
        return heads

    def run(self) -> Content:
        """Walk the share within the bounds and return what was found."""
        started = time.monotonic()
        deadline = started + self.bounds.time_budget
        pending: list[tuple[str, int]] = [("", 0)]  # (directory, depth)
        walk = _WalkState()
        self._running = (started, walk, pending)
        try:
            self._walk(pending, walk, deadline)
        except CollectError as exc:
            # The server went away part-way: what was walked is kept, the rest counts as not listed, and
            # the share says why and how far it got, so a broken walk never reads as a clean one.
            refines, self.refines = self.refines, []
            self._settle_refines(refines)
            walk.unlisted_dirs += len(pending)
            failure = (
                f"the walk failed after {self.tally.entries} entries in {self.tally.dirs} folders "
                f"({len(pending)} folders not listed): {exc}"
            )
            return replace(self._content(time.monotonic() - started, walk), truncated=True, error=failure)
        if walk.stopped:
            walk.unlisted_dirs += len(pending)
        return self._content(time.monotonic() - started, walk)

    def snapshot(self, why: str) -> Content | None:
        """What a walk still running has found so far, marked as cut short (Ctrl-C); None before it starts.

        Called from another thread while the walk goes on: a count changing under it is read again.
        """
        running = getattr(self, "_running", None)
        if running is None:
            return None
        started, walk, pending = running
        for _ in range(5):
            try:
                content = self._content(time.monotonic() - started, walk)
                unlisted = len(pending)
                break
            except RuntimeError:  # a dict of counts grew while it was read
                continue
        else:
            return None
        failure = (
            f"{why} after {self.tally.entries} entries in {self.tally.dirs} folders ({unlisted} not listed)"
        )
        return replace(content, truncated=True, error=failure)

    def _walk(self, pending: list[tuple[str, int]], walk: _WalkState, deadline: float) -> None:
        """Breadth first within the bounds; `pending` holds what is left when it stops or fails."""
        while pending and not walk.stopped:
            batch_size = max(1, self.bounds.in_flight * 2)
            batch = pending[:batch_size]
            del pending[:batch_size]  # in place: what is left must be known if the walk fails
            depth_of = dict(batch)
            self.tally.listings += len(batch)
            for listing in self.walker.list_directories([path for path, _ in batch]):
                if listing.status is not None:
                    self.tally.denied += 1
                    continue
                if listing.partial:
                    self.tally.listings += 1
                    listing = self.walker.list_directory_fully(listing.path)
                self._take(listing.path, depth_of[listing.path], listing.entries, pending, walk)
            if (
                len(self.sniff_queue) + len(self.look_queue) >= self.bounds.in_flight * 4
                or not pending
                or walk.stopped
            ):
                self._drain_sniffs()
            if len(self.zip_queue) >= self.bounds.in_flight or not pending or walk.stopped:
                self._drain_zips()
            if self.on_entries is not None:
                self.on_entries(self.tally.entries - walk.reported)
                walk.reported = self.tally.entries
            if time.monotonic() > deadline and pending and not walk.stopped:
                self._hit("time")
                walk.stopped = True
        self._drain_sniffs()
        self._drain_zips()
        self._read_deferred(deadline)

    def _read_deferred(self, deadline: float) -> None:
        """The reads that could wait, within what --max-sniff and the time budget leave.

        Ordinary formats first (sampled by directory like any other), then the refinements, whose names
        already decided their type: unread, those stand, and never count as a bound hit.
        """
        later, self.later = self.later, []
        waiting = [(directory, list(files)) for directory, files in groupby(later, key=itemgetter(0))]
        for index, (directory, files) in enumerate(waiting):
            if "time" in self.bounds_hit or self._past(deadline):
                for _, rest in waiting[index:]:
                    for where, entry, verdict in rest:
                        self._settle(where, entry, verdict, None, read=False)
                break
            groups: dict[GroupKey, list[tuple[Entry, NameVerdict]]] = {}
            for _, entry, verdict in files:
                if self.bounds.sample:
                    groups.setdefault(group_key(entry.name, entry.size), []).append((entry, verdict))
                else:
                    self._queue_sniff(directory, entry, verdict, None)
            self._sample(directory, groups)
            if len(self.sniff_queue) >= self.bounds.in_flight * 4:
                self._drain_sniffs()
        self._drain_sniffs()
        batch = self.bounds.in_flight * 4
        while self.refines:  # what is still in it when a read fails is settled by run()
            allowed = 0 if "time" in self.bounds_hit or self._past(deadline) else self._budget()
            if allowed == 0:
                break
            self._refine(self.refines[: min(batch, allowed)])
            del self.refines[: min(batch, allowed)]
        refines, self.refines = self.refines, []
        self._settle_refines(refines)

    def _budget(self) -> int:
        return max(0, self.bounds.max_sniff - self._reads_planned())

    def _refine(self, chunk: list[tuple[str, Entry, Verdict]]) -> None:
        paths = [_join(directory, entry.name) for directory, entry, _ in chunk]
        self.tally.reads += len(paths)
        heads = dict(self.walker.read_heads(paths, HEAD_LIMIT))  # all read before any is settled
        for (directory, entry, named), path in zip(chunk, paths, strict=True):
            head = heads.get(path)
            found = sniff(head, path) if isinstance(head, bytes) else None
            self.tally.sniffed += 1 if isinstance(head, bytes) else 0
            self.tally.refined(directory, entry, named, found or named)

    def _settle_refines(self, refines: list[tuple[str, Entry, Verdict]]) -> None:
        """Refinements not read (no budget or time left, or the walk failed): the names' types stand."""
        for directory, entry, named in refines:
            self.tally.refined(directory, entry, named, named)

    def _past(self, deadline: float) -> bool:
        if time.monotonic() <= deadline:
            return False
        self._hit("time")
        return True

    def _take(
        self,
        directory: str,
        depth: int,
        entries: tuple[Entry, ...],
        pending: list[tuple[str, int]],
        walk: _WalkState,
    ) -> None:
        """Count and classify one directory's entries, within the bounds."""
        walk.listed_dirs += 1
        walk.listed_entries += len(entries)
        if len(entries) > self.bounds.max_dir_entries:
            self._hit("dir_entries")
            walk.unseen_entries += len(entries) - self.bounds.max_dir_entries
            entries = entries[: self.bounds.max_dir_entries]
        drop = is_drop_directory(directory)  # the root or an upload/drop folder
        self._sweep(directory, [entry for entry in entries if not entry.is_dir], drop)
        groups: dict[GroupKey, list[tuple[Entry, NameVerdict]]] = {}  # like files, sampled together
        for index, entry in enumerate(entries):
            if walk.stopped or self.tally.entries >= self.bounds.max_entries:
                if not walk.stopped:
                    self._hit("entries")
                    walk.stopped = True
                rest = entries[index:]  # listed but not taken: known to exist, counted for the estimate
                walk.unseen_entries += len(rest)
                walk.unlisted_dirs += sum(1 for e in rest if e.is_dir)
                break
            self.tally.entries += 1
            if entry.is_dir:
                self.tally.dirs += 1
                if entry.reparse:
                    continue  # a link: never followed out of the share
                if depth + 1 > self.bounds.max_depth:
                    self._hit("depth")
                    walk.unlisted_dirs += 1
                    continue
                pending.append((_join(directory, entry.name), depth + 1))
            else:
                self.tally.files += 1
                self.tally.bytes += entry.size
                look = look_at_name(entry.name, drop)
                # A file the lookout checks want read is read whole, never stood for by a sample.
                shared = self._classify(
                    directory, entry, groups, alone=look is not None and bool(look.checks)
                )
                if look is not None:
                    self._look(directory, entry, look, drop, shared)
        self._sample(directory, groups)

    def _content(self, elapsed: float, walk: _WalkState) -> Content:
        tally = self.tally
        # Extrapolate: entries listed but not taken, plus directories found but not listed times the
        # mean entries of a listed directory; medical counts scale with the share's estimated size.
        factor = 1.0
        if tally.entries and (walk.unseen_entries or walk.unlisted_dirs):
            mean = walk.listed_entries / walk.listed_dirs if walk.listed_dirs else 0.0
            factor = (tally.entries + walk.unseen_entries + walk.unlisted_dirs * mean) / tally.entries
        medical = {
            type_id: MedicalCount(
                round(c * factor), round(b * factor), _confidence(rank), round(unread * factor), sample
            )
            for type_id, (c, b, rank, unread, sample) in sorted(tally.medical.items())
        }
        extrapolated = sum(unread for _, _, _, unread, _ in tally.medical.values())
        estimated = factor > 1.0 or extrapolated > 0
        return Content(
            crawled_as=self.identity,
            entries_seen=tally.entries,
            dirs_seen=tally.dirs,
            denied_dirs=tally.denied,
            truncated=bool(self.bounds_hit),
            estimated=estimated,
            elapsed_s=round(elapsed, 3),
            medical=medical,
            study_stores=_study_stores(tally),
            samples=tuple(tally.samples),
            bounds_hit=tuple(self.bounds_hit),
            files_seen=tally.files,
            bytes_seen=tally.bytes,
            sniffed=tally.sniffed,
            newest=_iso(tally.newest),
            oldest=_iso(tally.oldest),
            directories=_directories(tally),
            intrusion=tuple(tally.signs),
            intrusion_counts=dict(sorted(tally.sign_counts.items())),
            credentials=tuple(tally.credentials),
            credentials_found=tally.credentials_found,
            sampled_groups=tally.sampled_groups,
            extrapolated=extrapolated,
            too_small=tally.too_small,
            walk=WalkStats(
                listings=tally.listings,
                reads=tally.reads,
                rate=self.rate_limit.per_second if self.rate_limit else 0.0,
                rate_waited_s=round(self.rate_limit.waited, 3) if self.rate_limit else 0.0,
            ),
        )


def _confidence(rank: int) -> Confidence:
    return next(tier for tier in Confidence if tier.rank == rank)


def share_selected(name: str, include: Sequence[str], exclude: Sequence[str]) -> bool:
    """Whether --include-share / --exclude-share globs (case-insensitive) let this share through."""
    lowered = name.lower()
    if include and not any(fnmatch.fnmatchcase(lowered, pattern.lower()) for pattern in include):
        return False
    return not any(fnmatch.fnmatchcase(lowered, pattern.lower()) for pattern in exclude)
