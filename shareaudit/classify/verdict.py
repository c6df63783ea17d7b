"""The results of classification: a type decision with a confidence tier, and what a file name alone says."""

from dataclasses import dataclass
from enum import StrEnum

from shareaudit.model import Confidence as Confidence  # the tiers are a domain word: defined with the facts


@dataclass(frozen=True, slots=True)
class Verdict:
    """A file (or archive) judged to be of a medical type.

    `evidence` names the rule that matched, in the table's words; it never quotes file content.
    """

    type_id: str
    label: str
    confidence: Confidence
    evidence: str


class NameOutcome(StrEnum):
    """What the file name alone allows."""

    MEDICAL = "medical"  # the name decides the type
    SNIFF = "sniff"  # read the first 4 KiB and call sniff()
    ARCHIVE = "archive"  # list the archive without extracting it (see classify.archive)
    NOT_MEDICAL = "not_medical"


class ArchiveFormat(StrEnum):
    """Archive formats the classifier can look into (or at least recognise)."""

    ZIP = "zip"
    SEVEN_ZIP = "7z"


@dataclass(frozen=True, slots=True)
class NameVerdict:
    """The decision taken from a path alone.

    `verdict` is the decision for MEDICAL; for SNIFF and ARCHIVE it is what the name suggests when
    the content cannot be read (access denied, file locked), or None when the name suggests nothing.
    `archive` is set for ARCHIVE.

    `refine` (MEDICAL only): the name decides, but the head may name a more specific type (a DICOMDIR
    or an ECG waveform named .dcm, an ISHNE recording named .ecg); read it when the sniff budget allows.
    `stands` (SNIFF and ARCHIVE): the name's verdict stands when the content, once read, shows nothing
    medical (a file named after a patient is a patient document whatever its bytes are).
    """

    outcome: NameOutcome
    verdict: Verdict | None = None
    archive: ArchiveFormat | None = None
    refine: bool = False
    stands: bool = False
    later: bool = False


NOT_MEDICAL = NameVerdict(NameOutcome.NOT_MEDICAL)


def resolve(name: NameVerdict, content: Verdict | None, *, content_read: bool) -> Verdict | None:
    """Combine the name decision with the content decision (None if the content showed nothing medical)."""
    if content is not None:
        return content
    if name.outcome is NameOutcome.MEDICAL:
        # A .dcm whose head matched nothing may still be a DICOM variant the sniffer does not know.
        return name.verdict
    if name.outcome is NameOutcome.NOT_MEDICAL or (content_read and not name.stands):
        # The name only suggested reading; the content, once read, showed nothing.
        return None
    return name.verdict
