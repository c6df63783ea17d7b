"""Signs that someone is already in: coin miners, dropped scripts and binaries, web shells, ransom notes,
encryption sweeps and credential-coercion files. Pure logic over names and at most the first 4 KiB.

What leaves this module is a kind and a reason in shareaudit's words (which keys, which magic, which
host a UNC path points to), never a quote of the file: a miner's wallet or a web shell's password is
not repeated anywhere.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from shareaudit.classify.checks import HeadView
from shareaudit.classify.shelllink import is_shell_link, link_strings
from shareaudit.model import SignKind


@dataclass(frozen=True, slots=True)
class SignHit:
    """One sign, before the crawl adds where it is: its kind, why it matched, the UNC host it points to."""

    kind: SignKind
    why: str
    target: str | None = None


# --- names ------------------------------------------------------------------------------------------------
# Miner binaries and their look-alikes: xmrig (and xmr1g, xmrlg, xnrig), xmr-stak, the classic CPU/GPU
# miners, and the Kinsing campaign's kdevtmpfsi. A version or platform may follow (xmrig-6.21.0-linux.tar.gz).
MINER_NAME = re.compile(
    r"(?:x[mn]r[-_]?(?:[i1l]g|stak|miner)|minerd|cpuminer|ccminer|cgminer|bfgminer|ethminer|nbminer|"
    r"lolminer|phoenixminer|t-rex|nanominer|srbminer|teamredminer|kdevtmpfsi|kinsing)(?:[-_.][\w.\-]*)?"
)
# Extensions that run when double-clicked or are run by a shell, and binaries (by name).
SCRIPT_EXTENSIONS = frozenset(
    ["sh", "bash", "ps1", "psm1", "vbs", "vbe", "js", "jse", "wsf", "wsh", "hta", "bat", "cmd"]
)
BINARY_EXTENSIONS = frozenset(["exe", "dll", "scr", "com", "pif", "msi", "elf", "so"])
DROPPED_EXTENSIONS = SCRIPT_EXTENSIONS | BINARY_EXTENSIONS
# Server-side scripts a web server would run: where a web shell lives.
WEB_SCRIPT_EXTENSIONS = frozenset(
    [
        "php",
        "php3",
        "php4",
        "php5",
        "php7",
        "phtml",
        "phar",
        "asp",
        "aspx",
        "ashx",
        "asmx",
        "jsp",
        "jspx",
        "cfm",
    ]
)
# Files whose icon or target Explorer resolves on its own when the folder is opened (or the file clicked).
COERCION_EXTENSIONS = frozenset(("scf", "url", "library-ms", "searchconnector-ms", "lnk"))
COERCION_NAMES = frozenset(("desktop.ini",))
# Folders where files are dropped for others: anything there was put by whoever can write the share.
_DROP_FOLDER = re.compile(
    r"(?:up|down)loads?|incoming|inbox|drop(?:box|zone|s)?|transfers?|exchange|austausch|te?mp|pub(?:lic)?|"
    r"scans?|scan[\s_-]?to[\s_-]?folder",
    re.IGNORECASE,
)

# Ransom notes: how the families name them (README_TO_DECRYPT, HOW_TO_RECOVER_FILES, !!!READ_ME!!!,
# DECRYPT_INSTRUCTIONS, restore-my-files.txt, _readme.txt of STOP/Djvu, #DECRYPT_MY_FILES#, ...).
_NOTE_EXTENSIONS = frozenset(("txt", "html", "htm", "hta", "rtf", "url", "png", "bmp", "jpg", ""))
_NOTE_WORDS = re.compile(
    r"decrypt|howtorecover|howtorestore|howtoback|howtoget|restorefiles|recoverfiles|restoremyfiles|"
    r"recoveryourfiles|restoreyourfiles|getyourfiles|yourfilesare|filesencrypted|filesarelocked|"
    r"readmetorestore|readmeforrestore|readmenow|recoverdata|restoredata|ransom|unlockfiles|unlockyour"
)
_NOTE_SHOUTED_README = re.compile(r"[!#@_-]{2,}\s*read[\s_-]*me\s*[!#@_-]{2,}.*|!\s*read[\s_-]*me\s*!.*")
_STOP_DJVU_NOTE = "_readme.txt"

# Extensions an ordinary file server holds in bulk: a directory full of them is no sweep. Medical types
# come from the type table.
_ORDINARY_LINES = (
    "doc docx docm dot dotx xls xlsx xlsm xlsb xlt xltx ppt pptx pptm pps ppsx pdf txt csv tsv rtf odt ods odp",
    "odg md rst tex log msg eml pst ost vcf ics mbox pages numbers key one onetoc2 vsd vsdx pub xps oxps",
    "jpg jpeg png gif bmp tif tiff svg svgz webp heic heif ico cur psd ai eps raw cr2 nef dng arw orf",
    "mp3 mp4 m4a m4v wav wma wmv avi mov mkv flv webm ogg oga ogv opus flac aac mid midi",
    "zip 7z rar gz tgz bz2 tbz xz txz zst lz lzma lz4 tar iso img vhd vhdx vmdk qcow2 dmg cab cpio deb rpm",
    "apk jar war ear whl egg msi msp exe dll sys drv ocx cpl scr com inf cat pnf mui manifest lnk url",
    "ini cfg conf config cnf xml xsd xsl xslt dtd json yaml yml toml properties plist reg env",
    "html htm xhtml mht css scss less js mjs cjs ts tsx jsx map vue php asp aspx jsp py pyc pyo pyi pyd pyx",
    "pxd pth so a o la lo ko h hh hpp hxx c cc cpp cxx java class kt go rs rb pl pm pod t sh bash zsh fish",
    "ps1 psm1 psd1 bat cmd vbs lua tcl r m swift cs vb fs sql db sqlite sqlite3 mdb accdb dbf frm ibd myd",
    "bak old orig tmp temp part crdownload swp lock pid sock gpg pgp asc sig sign p7s pem crt cer der csr",
    "p12 pfx jks keystore pub md5 sha1 sha256 sha512 sum gz bz2 mo po pot qm ts ttf otf woff woff2 eot",
    "pfb pfm afm pcf bdf fon dat bin hex rom cue nfo sfv torrent ttc desktop service socket target timer",
    "mount path slice rules hwdb policy conf preset network netdev link install list triggers md5sums",
    "shlibs symbols templates postinst postrm preinst prerm config dsc changes buildinfo patch diff",
    "in am ac m4 mk cmake make ninja gradle pom sln csproj vcxproj props targets resx resources xaml",
    "ipynb rdata rds sav dta sas7bdat mat fig npy npz h5 hdf5 nc parquet feather avro orc arrow pkl pickle",
    "gpx kml kmz shp shx dbf prj geojson dwg dxf stl obj fbx blend 3ds max skp ifc step stp iges igs",
    "xcf kra ora indd idml qxp sla afdesign afphoto sketch fig xd aup aup3 sesx prproj aep drp",
    "vmx vmsd vmxf nvram vbox ova ovf lic license ps ppd pcl prn spl shd xps gcode",
    "aff dic hyph tab def lst idx sqlite-wal sqlite-shm journal wal ldb sst rdb aof bson",
    "chm hlp info man gmo el elc vim tmpl tpl j2 jinja twig hbs mustache erb haml ejs",
    "typed gitignore gitattributes editorconfig dockerignore npmignore yarnrc npmrc nvmrc",
)
ORDINARY_EXTENSIONS = frozenset(word for line in _ORDINARY_LINES for word in line.split())
# Extensions ransomware families give the files they encrypt.
RANSOM_EXTENSIONS = frozenset(
    [
        "locked",
        "locky",
        "encrypted",
        "encrypt",
        "crypt",
        "crypted",
        "crypto",
        "cry",
        "crypz",
        "cryp1",
        "cerber",
        "cerber2",
        "cerber3",
        "zepto",
        "odin",
        "thor",
        "aesir",
        "osiris",
        "wncry",
        "wnry",
        "wncryt",
        "wcry",
        "ryk",
        "ryuk",
        "conti",
        "lockbit",
        "phobos",
        "eking",
        "djvu",
        "makop",
        "dharma",
        "arena",
        "nemty",
        "sodinokibi",
        "maze",
        "egregor",
        "hive",
        "babyk",
        "avaddon",
        "clop",
        "ciop",
        "deadbolt",
        "encrypt3d",
        "lockfile",
        "crab",
        "kraken",
        "pay2key",
        "ransom",
        "fucked",
        "paym3",
        "killdisk",
        "crypt1",
        "enciphered",
        "locked1",
        "lock8",
    ]
)
SWEEP_MIN_FILES = 10  # a sweep needs at least this many files with the extension ...
SWEEP_MIN_SHARE = 0.5  # ... making up at least this share of the directory's files


def is_drop_directory(directory: str) -> bool:
    """The share root, or a directory below an upload/drop folder (uploads, incoming, scans, tmp, ...)."""
    if not directory:
        return True
    return any(_DROP_FOLDER.fullmatch(part) for part in re.split(r"[\\/]", directory) if part)


def split_name(base: str) -> tuple[str, str]:
    """(lowercased name, lowercased extension without the dot; '' for none and for dotfiles)."""
    lower = base.lower()
    dot = lower.rfind(".")
    return lower, lower[dot + 1 :] if dot > 0 else ""


def is_miner_name(lower: str) -> bool:
    """A file named like a coin miner (xmrig and look-alikes, xmr-stak, cpuminer, kdevtmpfsi, ...)."""
    return MINER_NAME.fullmatch(lower) is not None


def is_ransom_note(lower: str, extension: str) -> bool:
    """A file named like a ransom note."""
    if extension not in _NOTE_EXTENSIONS:
        return False
    if lower == _STOP_DJVU_NOTE:
        return True
    stem = lower[: -len(extension) - 1] if extension else lower
    if _NOTE_SHOUTED_README.fullmatch(stem):
        return True
    squeezed = re.sub(r"[^a-z0-9]", "", stem)
    if not _NOTE_WORDS.search(squeezed):
        return False
    # "decrypt" alone names tools and libraries (decrypt.txt of a crypto library's docs): a note says more.
    return squeezed not in ("decrypt", "decryption", "decrypted", "decryptor", "ransom", "ransomware")


# --- content ----------------------------------------------------------------------------------------------
_STRATUM = re.compile(r"stratum\d?\+(?:tcp|ssl|tls)://", re.IGNORECASE)
_JSON_KEY = re.compile(r'"([\w-]{2,32})"\s*:')
_MINER_KEYS = ("pools", "donate-level", "donate-over-proxy", "randomx", "nicehash", "rig-id", "coin", "algo")


def miner_config(text: str) -> str | None:
    """Why a text head looks like a miner's configuration or launcher (pool/wallet keys), or None."""
    markers: list[str] = []
    keys = {key.lower() for key in _JSON_KEY.findall(text)}
    if "pools" in keys and ({"url", "user"} <= keys or "donate-level" in keys):
        markers.extend(f'"{key}"' for key in _MINER_KEYS if key in keys)
    elif "donate-level" in keys:
        markers.append('"donate-level"')
    if _STRATUM.search(text):
        markers.append("stratum+tcp:// pool address")
    if not markers:
        return None
    return "pool/wallet settings of a coin miner in its first bytes: " + ", ".join(markers)


_PHP_EVAL_DECODE = re.compile(
    r"\b(?:eval|assert|create_function)\s*\(\s*@?\s*(?:base64_decode|gzinflate|gzuncompress|gzdecode|"
    r"str_rot13|rawurldecode|hex2bin|\$_(?:POST|GET|REQUEST|COOKIE|SERVER))\b",
    re.IGNORECASE,
)
# A command or code runner whose arguments (up to the end of the statement) take request input.
_PHP_RUN_INPUT = re.compile(
    r"\b(?:eval|assert|system|shell_exec|passthru|exec|popen|proc_open|pcntl_exec)\s*\([^;]{0,120}?"
    r"\$_(?:POST|GET|REQUEST|COOKIE|FILES)\b"
)
_ASP_EVAL = re.compile(r"\b(?:eval|execute(?:global)?)\s*\(?\s*request\b", re.IGNORECASE)
_ASP_SHELL = re.compile(
    r"wscript\.shell|process\.start|processstartinfo|cmd\.exe|system\.diagnostics\.process", re.IGNORECASE
)
_ASP_INPUT = re.compile(r"\brequest\s*(?:\.\s*(?:form|querystring|item|params)|\()", re.IGNORECASE)
_JSP_EXEC = re.compile(r"Runtime\s*\.\s*getRuntime\s*\(\s*\)\s*\.\s*exec\s*\(|new\s+ProcessBuilder\s*\(")
_JSP_INPUT = re.compile(r"request\s*\.\s*getParameter\s*\(")


def web_shell(text: str, extension: str) -> str | None:
    """Why a server-side script's head looks like a web shell, or None."""
    if extension.startswith("ph"):
        if _PHP_EVAL_DECODE.search(text):
            return "PHP that evaluates decoded or request-supplied code (eval/assert of base64_decode, $_POST, ...)"
        if _PHP_RUN_INPUT.search(text):
            return "PHP that runs commands or code taken from the request ($_GET/$_POST)"
    elif extension.startswith("as"):
        if _ASP_EVAL.search(text):
            return "ASP that evaluates what the request sends (Eval/Execute of Request)"
        if _ASP_SHELL.search(text) and _ASP_INPUT.search(text):
            return "ASP.NET that starts processes next to request input"
    elif extension.startswith("js"):
        if _JSP_EXEC.search(text):
            extra = " with request parameters" if _JSP_INPUT.search(text) else ""
            return f"JSP that runs operating system commands (Runtime.getRuntime().exec){extra}"
    elif extension == "cfm" and re.search(r"<cfexecute\b", text, re.IGNORECASE):
        return "ColdFusion that runs operating system commands (cfexecute)"
    return None


def executable_magic(data: bytes) -> str | None:
    """'ELF' or 'Windows PE' when the first bytes are an executable's header, else None."""
    if data.startswith(b"\x7fELF") and len(data) >= 5 and data[4] in (1, 2):
        return "ELF"
    if data.startswith(b"MZ") and len(data) >= 0x40:
        offset = int.from_bytes(data[0x3C:0x40], "little")
        if 0x40 <= offset <= len(data) - 4 and data[offset : offset + 4] == b"PE\0\0":
            return "Windows PE"
    return None


# --- coercion ---------------------------------------------------------------------------------------------
# The keys of .scf/.url/desktop.ini whose value Explorer fetches, and the elements of .library-ms and
# .searchConnector-ms files (simpleLocation/url, iconReference).
_INI_TARGET = re.compile(
    r"^\s*(IconFile|IconResource|IconPath|URL|Target|BaseURL|WorkingDirectory)\s*=\s*(.+?)\s*$",
    re.IGNORECASE | re.MULTILINE,
)
_XML_TARGET = re.compile(r"<(?:\w+:)?(url|iconReference|simpleLocation)\s*>\s*([^<]+)", re.IGNORECASE)
_HOST = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-_\[\]:]{0,252}")


def unc_host(value: str) -> str | None:
    """The host of a UNC path (\\\\host\\share, //host/share, file://host/share, file:////host/share), or None."""
    text = value.strip().strip("\"'").strip()
    if text[:5].lower() == "file:":
        rest = text[5:].replace("\\", "/")
        slashes = len(rest) - len(rest.lstrip("/"))
        if slashes not in (2, 4, 5):
            return None  # file:///C:/... is a local path (three slashes: an empty host)
        text = "//" + rest.lstrip("/")
    if not (text.startswith("\\\\") or text.startswith("//")):
        return None
    host = re.split(r"[\\/]", text[2:], maxsplit=1)[0]
    host = host.split("@", 1)[0]  # WebDAV: \\host@SSL@443\share
    if not host or host in ("?", ".") or host.startswith("%") or host.lower() == "localhost":
        return None  # device paths (\\?\, \\.\), %LOGONSERVER% and friends
    return host.lower() if _HOST.fullmatch(host) else None


def coercion_target(data: bytes, view: HeadView, lower: str) -> tuple[str, str] | None:
    """(host, what points there) when a coercion file's icon or target is a UNC path, else None."""
    if lower.endswith(".lnk"):
        if not is_shell_link(data):
            return None
        for string in link_strings(data):
            host = unc_host(string)
            if host:
                return host, "a shortcut whose target or icon"
        return None
    text = view.text
    if text is None:
        return None
    for match in _INI_TARGET.finditer(text):
        value = match.group(2).split(",", 1)[0]  # IconResource=\\host\x.ico,0
        host = unc_host(value)
        if host:
            return host, f"its {match.group(1)}="
    for match in _XML_TARGET.finditer(text):
        host = unc_host(match.group(2))
        if host:
            return host, f"its <{match.group(1)}>"
    return None


# --- encryption sweeps ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SweepHit:
    """Most files of one directory share an extension ordinary files do not have."""

    extension: str
    files: int
    why: str


def _random_looking(extension: str) -> bool:
    if not 4 <= len(extension) <= 8 or not extension.isalnum() or not extension.isascii():
        return False
    letters = [ch for ch in extension if ch.isalpha()]
    if not letters:
        return False
    mixed_case = any(ch.isupper() for ch in extension[1:]) and any(ch.islower() for ch in extension)
    digits = any(ch.isdigit() for ch in extension)
    vowels = sum(1 for ch in letters if ch.lower() in "aeiou")
    return mixed_case or digits or vowels / len(letters) < 0.2


def extension_sweep(names: Sequence[str], ordinary: frozenset[str] = frozenset()) -> SweepHit | None:
    """A sweep in one directory's file names: >= 10 files and >= half of them share an unusual extension
    that is a known ransomware extension, sits behind an ordinary one (report.pdf.xyz) or looks random."""
    if len(names) < SWEEP_MIN_FILES:
        return None
    counts: Counter[str] = Counter()
    doubled: Counter[str] = Counter()
    spelled: dict[str, str] = {}
    for name in names:
        dot = name.rfind(".")
        if dot <= 0 or dot == len(name) - 1:
            continue
        original = name[dot + 1 :]
        extension = original.lower()
        counts[extension] += 1
        spelled.setdefault(extension, original)
        inner = name.rfind(".", 0, dot)
        if inner > 0 and name[inner + 1 : dot].lower() in ORDINARY_EXTENSIONS | ordinary:
            doubled[extension] += 1
    if not counts:
        return None
    extension, count = counts.most_common(1)[0]
    if count < SWEEP_MIN_FILES or count < SWEEP_MIN_SHARE * len(names):
        return None
    if (
        extension in ORDINARY_EXTENSIONS
        or extension in ordinary
        or extension.isdigit()
        or len(extension) > 16
    ):
        return None
    share = f"{count} of the {len(names)} files in this folder end in .{extension}"
    if extension in RANSOM_EXTENSIONS:
        return SweepHit(extension, count, f"{share}, an extension ransomware gives encrypted files")
    if doubled[extension] * 2 >= count:
        return SweepHit(
            extension,
            count,
            f"{share}, appended to their own extension (report.pdf.{extension}): renamed in a sweep",
        )
    if _random_looking(spelled[extension]):
        return SweepHit(extension, count, f"{share}, a random-looking extension no ordinary file type uses")
    return None
