"""What a scan asks of DICOM ports: which ports, which called AE titles, how many studies to count."""

from __future__ import annotations

from dataclasses import dataclass

from shareaudit.errors import InputError

# The well-known DICOM port, the common unprivileged one, and Orthanc's default.
DEFAULT_PORTS = (104, 11112, 4242)
# Called AE titles that servers are commonly left with (factory defaults and sample configurations);
# tried after those given with --dicom-ae, and only when the server refuses a random called AE title.
DEFAULT_AE_TITLES = (
    "ANY-SCP",
    "ORTHANC",
    "DCM4CHEE",
    "PACS",
    "STORESCP",
    "CONQUESTSRV1",
    "DCMQRSCP",
    "ARCHIVE",
)
# Studies counted per port before the C-FIND is cancelled and the count marked as a lower bound.
MAX_STUDIES = 10_000
MAX_AE_TITLES = 16  # --dicom-ae entries: each one may cost an association attempt per port
AE_TITLE_LENGTH = 16  # PS3.5 6.2: AE is at most 16 characters


@dataclass(frozen=True, slots=True)
class DicomOptions:
    """The DICOM part of a plan."""

    ports: tuple[int, ...] = DEFAULT_PORTS
    ae_titles: tuple[str, ...] = ()  # called AE titles the servers are known by (--dicom-ae), tried first
    max_studies: int = MAX_STUDIES

    def candidates(self) -> tuple[str, ...]:
        """Called AE titles to try after a random one was refused: the given ones, then the defaults."""
        return tuple(dict.fromkeys((*self.ae_titles, *DEFAULT_AE_TITLES)))


def ae_title(text: str) -> str:
    """A valid AE title (PS3.5 6.2: 1-16 characters of the default repertoire, no backslash), or InputError."""
    title = text.strip()
    if not title:
        raise InputError(f"AE title {text!r} is empty")
    if len(title) > AE_TITLE_LENGTH:
        raise InputError(f"AE title {text!r} is longer than {AE_TITLE_LENGTH} characters")
    if any(not (" " <= char <= "~") or char == "\\" for char in title):
        raise InputError(f"AE title {text!r} may hold printable ASCII only, without a backslash")
    return title


def dicom_options(ports: tuple[int, ...], ae_titles: tuple[str, ...], max_studies: int) -> DicomOptions:
    """Options from what the user gave: extra ports added to the defaults, AE titles checked."""
    if len(ae_titles) > MAX_AE_TITLES:
        raise InputError(f"at most {MAX_AE_TITLES} --dicom-ae titles (each may cost an association per port)")
    for port in ports:
        if not 0 < port < 65536:
            raise InputError(f"DICOM port {port} is not a number from 1 to 65535")
    return DicomOptions(
        ports=tuple(dict.fromkeys((*DEFAULT_PORTS, *ports))),
        ae_titles=tuple(dict.fromkeys(ae_title(t) for t in ae_titles)),
        max_studies=max_studies,
    )
