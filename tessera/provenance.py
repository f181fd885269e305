"""C2PA provenance: every video tessera writes says, in a signed manifest, that a trained model made it.

    signing = local_signing()                       # created on first use, or Signing(cert, key) of your own
    claim = claim_for(generator, ["a red circle"], mode="generate")
    write_signed("x.mp4", lambda tmp: write_video(tmp, frames, fps), claim, signing)
    verify("x.mp4").ok                              # False after any change to the file's media

The manifest (c2pa-python, the C2PA reference SDK) holds one `c2pa.created` action whose digital source
type is IPTC's trainedAlgorithmicMedia and whose parameters name the model, the SHA-256 of its files and the
SHA-256 of the prompt (its UTF-8 bytes; a storyboard's prompts joined by newlines), never the prompt itself.
It is signed with ES256 (or the algorithm of the key given) and bound to the file's bytes by a hash, so a
one-byte change to the media makes the file fail verification.

C2PA signers need a certificate issued by a CA (a self-signed leaf is refused), so the local identity is a
CA made here plus a signing certificate it issued; the CA's key is discarded once it has signed, so nothing
else can be issued in its name. It lives in `default_folder()`: $XDG_DATA_HOME/tessera/signing, else
~/.local/share/tessera/signing. `verify` trusts that CA (and any CA given), so files signed here report
"Trusted" and files signed elsewhere "Valid" (intact, signer unknown).

Formats: .mp4 (ISO BMFF), .gif, .webp, .png and .jpg files carry the manifest inside. A PNG frame folder is
signed frame by frame, each frame a file of its own that may travel alone; `verify` of the folder checks
every frame.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import c2pa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tessera import __version__

MIME_TYPES = {
    ".mp4": "video/mp4",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
}
TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
_VALIDITY = datetime.timedelta(days=3650)
_FRAME_GLOB = "frame_*.png"  # the files of a PNG frame folder (data/video_io.py)


def default_folder() -> Path:
    """Where the local signing identity lives: $XDG_DATA_HOME/tessera/signing or ~/.local/share/..."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "tessera" / "signing"


@dataclass(frozen=True)
class Signing:
    """Who signs: a PEM certificate chain (the signing certificate first, then its issuers) and its private
    key, plus the CA that `verify` trusts by default (the local one, or None for a user's own)."""

    cert_chain: Path
    private_key: Path
    trust_anchor: Path | None = None

    def signer(self) -> c2pa.Signer:
        chain, key = self.cert_chain.read_bytes(), self.private_key.read_bytes()
        try:
            algorithm = _algorithm(serialization.load_pem_private_key(key, password=None))
        except (ValueError, TypeError) as error:
            raise ValueError(f"signing key {self.private_key}: not an unencrypted PEM private key") from error
        return c2pa.Signer.from_info(c2pa.C2paSignerInfo(algorithm, chain, key, None))


def signing(
    cert: str | Path | None = None, key: str | Path | None = None, folder: str | Path | None = None
) -> Signing:
    """A user's certificate chain and key (both, or neither), else the local identity in `folder`
    (default_folder()), created on first use."""
    if (cert is None) != (key is None):
        raise ValueError("give a signing certificate and its key together (--sign-cert and --sign-key)")
    if cert is not None:
        for name, path in (("certificate", cert), ("key", key)):
            if not Path(path).is_file():
                raise ValueError(f"signing {name} {path}: no such file")
        return Signing(Path(cert), Path(key))
    return local_signing(folder)


def local_signing(folder: str | Path | None = None) -> Signing:
    """The local CA and signing certificate in `folder`, made there if it holds none."""
    folder = Path(folder) if folder is not None else default_folder()
    if not (folder / "signer.pem").is_file():
        _create_local(folder)
    return Signing(folder / "signer.pem", folder / "signer.key", folder / "ca.pem")


def _create_local(folder: Path) -> None:
    """A CA, and a signing certificate it issues, written as a whole: built in a temporary folder that is
    renamed into place, so processes starting together end up with the same identity."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.with_name(f".{folder.name}.tmp-{secrets.token_hex(4)}")
    tmp.mkdir(mode=0o700)
    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("tessera local CA")
    ca = _certificate(ca_name, ca_name, ca_key.public_key(), ca_key, now, ca=True)
    leaf = _certificate(_name("tessera signer"), ca_name, key.public_key(), ca_key, now, ca=False)
    pem = serialization.Encoding.PEM
    (tmp / "ca.pem").write_bytes(ca.public_bytes(pem))
    (tmp / "signer.pem").write_bytes(leaf.public_bytes(pem) + ca.public_bytes(pem))
    private = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    descriptor = os.open(tmp / "signer.key", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(private)
    try:
        os.rename(tmp, folder)
    except OSError:  # another process made it first: keep theirs
        for path in tmp.iterdir():
            path.unlink()
        tmp.rmdir()
        if not (folder / "signer.pem").is_file():
            raise ValueError(f"signing folder {folder} exists but holds no signer.pem") from None


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "tessera (local)"),
        ]
    )


def _certificate(subject, issuer, public_key, issuer_key, now, *, ca: bool) -> x509.Certificate:
    """C2PA's certificate profile: a CA may only sign certificates; the leaf signs documents
    (digitalSignature, emailProtection) and names its issuer's key."""
    flags = "digital_signature content_commitment key_encipherment data_encipherment key_agreement"
    usage = dict.fromkeys(
        [*flags.split(), "key_cert_sign", "crl_sign", "encipher_only", "decipher_only"], False
    )
    usage.update({"key_cert_sign": True, "crl_sign": True} if ca else {"digital_signature": True})
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
        .add_extension(x509.KeyUsage(**usage), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    if not ca:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False
        ).add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _algorithm(key: Any) -> c2pa.C2paSigningAlg:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        by_curve = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}
        if key.curve.name in by_curve:
            return c2pa.C2paSigningAlg[by_curve[key.curve.name]]
    if isinstance(key, rsa.RSAPrivateKey):
        return c2pa.C2paSigningAlg.PS256
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return c2pa.C2paSigningAlg.ED25519
    raise ValueError(
        f"signing key type {type(key).__name__} is not one C2PA signs with (EC P-256/384/521, RSA, Ed25519)"
    )


# ---------------------------------------------------------------------------------------------- claims


@dataclass(frozen=True)
class Claim:
    """What a generated file says about itself."""

    model: str  # the model's name
    model_sha256: str
    prompt_sha256: str
    mode: str  # generate, image, extend, ... (task.MODES)

    def manifest(self, title: str) -> dict[str, Any]:
        parameters = {
            "model": self.model,
            "model_sha256": self.model_sha256,
            "prompt_sha256": self.prompt_sha256,
            "mode": self.mode,
        }
        action = {
            "action": "c2pa.created",
            "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
            "softwareAgent": {"name": "tessera", "version": __version__},
            "parameters": parameters,
        }
        return {
            "claim_generator_info": [{"name": "tessera", "version": __version__}],
            "title": title,
            "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": [action]}}],
        }


def prompt_sha256(prompts: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(prompts).encode("utf-8")).hexdigest()


def claim_for(model_dir: str | Path, prompts: Sequence[str], mode: str, *, name: str | None = None) -> Claim:
    """The claim of a video made by the model in `model_dir` (named `name`, default the folder's name)."""
    model_dir = Path(model_dir)
    return Claim(name or model_dir.name, model_sha256(model_dir), prompt_sha256(prompts), mode)


_DIGESTS: dict[tuple, str] = {}  # (folder, each file's name, size and mtime) -> digest, per process


def model_sha256(model_dir: str | Path) -> str:
    """SHA-256 over a model folder's files (names and contents, sorted by name; hidden files skipped).
    Remembered per process while no file changes, so a server hashes its model once."""
    model_dir = Path(model_dir).resolve()
    files = sorted(
        p
        for p in model_dir.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(model_dir).parts)
    )
    key = (model_dir, *((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files))
    if key not in _DIGESTS:
        total = hashlib.sha256()
        for path in files:
            total.update(path.relative_to(model_dir).as_posix().encode() + b"\0")
            with path.open("rb") as file:
                total.update(hashlib.file_digest(file, "sha256").digest())
        _DIGESTS[key] = total.hexdigest()
    return _DIGESTS[key]


# ---------------------------------------------------------------------------------------------- signing


def _is_folder(path: Path | str) -> bool:
    """video_io's rule: a path ending in a separator, naming a folder or without a suffix is a PNG folder."""
    return os.fspath(path).endswith(("/", os.sep)) or Path(path).is_dir() or not Path(path).suffix


def write_signed(path: str | Path, write: Callable[[Path], None], claim: Claim, signing: Signing) -> None:
    """`write(p)` writes an output to `p`; the file appears at `path` only signed (a PNG folder: written,
    then each frame signed in place)."""
    if _is_folder(path):
        write(Path(path))
        for frame in sorted(Path(path).glob(_FRAME_GLOB)):
            sign_file(frame, claim, signing)
        return
    path = Path(path)
    _mime(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    unsigned = path.with_name(f".{path.name}.unsigned-{secrets.token_hex(4)}{path.suffix}")
    try:
        write(unsigned)
        _sign(unsigned, path, claim, signing)
    finally:
        unsigned.unlink(missing_ok=True)


def sign_file(path: str | Path, claim: Claim, signing: Signing) -> None:
    """Sign a file in place (atomically: the signed copy replaces it)."""
    _sign(Path(path), Path(path), claim, signing)


def _mime(path: Path) -> str:
    mime = MIME_TYPES.get(path.suffix.lower())
    if mime is None:
        raise ValueError(f"{path}: cannot carry a C2PA manifest; use one of {', '.join(MIME_TYPES)}")
    return mime


def _sign(source: Path, target: Path, claim: Claim, signing: Signing) -> None:
    mime = _mime(target)
    tmp = target.with_name(f".{target.name}.signed-{secrets.token_hex(4)}{target.suffix}")
    try:
        with (
            signing.signer() as signer,
            c2pa.Builder(claim.manifest(target.name)) as builder,
            source.open("rb") as src,
            tmp.open("w+b") as dst,
        ):
            builder.sign(signer, mime, src, dst)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------- verifying


@dataclass
class Verification:
    """One file's C2PA check. state: "Trusted" (intact, signed by a trusted CA), "Valid" (intact, signer
    not trusted here), "Invalid" (altered, or a bad signature) or "Unsigned" (no manifest)."""

    path: Path
    state: str
    manifest: dict[str, Any] | None = None  # the active manifest
    failures: list[str] = field(default_factory=list)  # "code: explanation" of each failed check

    @property
    def ok(self) -> bool:
        return self.state in ("Trusted", "Valid")

    @property
    def actions(self) -> list[dict[str, Any]]:
        """The manifest's actions (ours: one c2pa.created with the model and prompt hashes)."""
        return [
            action
            for item in (self.manifest or {}).get("assertions", [])
            if item.get("label", "").startswith("c2pa.actions")
            for action in item["data"].get("actions", [])
        ]

    def summary(self) -> str:
        if self.manifest is None:
            return f"{self.path}: {self.state}" + "".join(f"\n  {f}" for f in self.failures)
        info = self.manifest.get("signature_info", {})
        lines = [
            f"{self.path}: {self.state}",
            f"  signed by {info.get('common_name')} ({info.get('issuer')}), {info.get('alg')}",
        ]
        for action in self.actions:
            source = action.get("digitalSourceType", "").rsplit("/", 1)[-1]
            lines.append(f"  {action.get('action')} ({source}): {json.dumps(action.get('parameters', {}))}")
        lines += [f"  {failure}" for failure in self.failures]
        return "\n".join(lines)


def verify(path: str | Path, trust: Sequence[str | Path] = ()) -> list[Verification]:
    """Check the C2PA manifest of a file (or of every frame of a PNG folder), trusting the CAs in `trust`
    (PEM files) and the local CA when it exists."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"{path}: no such file")
    anchors = [Path(p) for p in trust]
    local = default_folder() / "ca.pem"
    if local.is_file():
        anchors.append(local)
    for anchor in anchors:
        if not anchor.is_file():
            raise ValueError(f"trust anchor {anchor}: no such file")
    settings: dict[str, Any] = {"verify": {"verify_trust": bool(anchors)}}
    if anchors:
        settings["trust"] = {"trust_anchors": "".join(a.read_text() for a in anchors)}
    files = sorted(path.glob(_FRAME_GLOB)) if path.is_dir() else [path]
    if not files:
        raise ValueError(f"{path}: a folder without frames ({_FRAME_GLOB})")
    with c2pa.Context.from_dict(settings) as context:
        return [_verify_file(file, context) for file in files]


def _verify_file(path: Path, context: c2pa.Context) -> Verification:
    with path.open("rb") as stream:
        try:
            reader = c2pa.Reader.try_create(_mime(path), stream, None, context)
        except c2pa.C2paError as error:
            return Verification(path, "Invalid", failures=[f"unreadable manifest: {error}"])
        if reader is None:
            return Verification(path, "Unsigned", failures=["no C2PA manifest"])
        with reader:
            state = reader.get_validation_state() or "Invalid"
            manifest = reader.get_active_manifest()
            results = (reader.get_validation_results() or {}).get("activeManifest", {})
    failures = [f"{f['code']}: {f.get('explanation', '')}" for f in results.get("failure", [])]
    return Verification(path, state, manifest, failures)
