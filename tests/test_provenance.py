"""Provenance and safety: every video the CLI writes carries a signed C2PA manifest that `tessera verify`
accepts and that any change to the media breaks; the prompt policy refuses before any work."""

import hashlib
import json
import os
import stat
import sys

import numpy as np
import pytest

from tessera import provenance
from tessera.cli import main
from tessera.data.video_io import write_video
from tessera.policy import PromptRefused, check_prompts, default_policy, load_policy
from tessera.weights import SHIPPED_MODEL

FRAMES = np.random.default_rng(0).integers(0, 256, (9, 32, 32, 3), dtype=np.uint8)
CLAIM = provenance.Claim("world", "ab" * 32, provenance.prompt_sha256(["a red ball"]), "generate")


@pytest.fixture
def local(tmp_path, monkeypatch):
    """A fresh local signing identity in a temporary $XDG_DATA_HOME."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    return provenance.local_signing()


def _signed(path, signing, claim=CLAIM):
    provenance.write_signed(path, lambda p: write_video(p, FRAMES, 8), claim, signing)
    return path


def test_the_local_identity_is_made_once_with_a_private_key(tmp_path, local):
    assert local.cert_chain.parent == tmp_path / "xdg" / "tessera" / "signing"
    assert stat.S_IMODE(os.stat(local.private_key).st_mode) == 0o600
    again = provenance.local_signing()
    assert again == local and again.cert_chain.read_bytes() == local.cert_chain.read_bytes()
    with pytest.raises(ValueError, match="together"):
        provenance.signing(cert=local.cert_chain)
    with pytest.raises(ValueError, match="no such file"):
        provenance.signing(cert=tmp_path / "none.pem", key=local.private_key)


@pytest.mark.parametrize("suffix", [".mp4", ".gif", ".webp"])
def test_a_signed_video_says_who_made_it_and_validates(tmp_path, local, suffix):
    (result,) = provenance.verify(_signed(tmp_path / f"v{suffix}", local))
    assert result.ok and result.state == "Trusted"  # signed by the local CA, which verify trusts
    (action,) = result.actions
    assert action["action"] == "c2pa.created"
    assert action["digitalSourceType"].endswith("/trainedAlgorithmicMedia")
    assert action["parameters"]["model"] == "world" and action["parameters"]["model_sha256"] == "ab" * 32
    assert action["parameters"]["prompt_sha256"] == hashlib.sha256(b"a red ball").hexdigest()
    assert not list(tmp_path.glob(".*"))  # no temporary files left


def test_a_one_byte_change_in_the_video_data_fails_verification(tmp_path, local, capsys):
    path = _signed(tmp_path / "v.mp4", local)
    assert main(["verify", str(path)]) == 0
    assert "Trusted" in capsys.readouterr().out
    data = bytearray(path.read_bytes())
    start = data.index(b"mdat") + 4  # the H.264 samples
    data[start + (len(data) - start) // 2] ^= 0x01
    altered = tmp_path / "altered.mp4"
    altered.write_bytes(bytes(data))
    assert main(["verify", str(altered)]) == 1
    out = capsys.readouterr().out
    assert "Invalid" in out and "mismatch" in out
    gif = bytearray(_signed(tmp_path / "v.gif", local).read_bytes())
    gif[-20] ^= 0x01  # inside the last frame's image data
    (tmp_path / "altered.gif").write_bytes(bytes(gif))
    assert not provenance.verify(tmp_path / "altered.gif")[0].ok


def test_unsigned_files_and_other_signers(tmp_path, local, monkeypatch, capsys):
    write_video(tmp_path / "plain.mp4", FRAMES, 8)
    assert main(["verify", str(tmp_path / "plain.mp4")]) == 1
    assert "Unsigned" in capsys.readouterr().out
    # A team's own CA and certificate: valid anywhere, trusted where its CA is given.
    own = provenance.local_signing(tmp_path / "team")
    signing = provenance.signing(cert=own.cert_chain, key=own.private_key)
    path = _signed(tmp_path / "team.mp4", signing)
    assert provenance.verify(path)[0].state == "Valid"
    assert provenance.verify(path, trust=[own.trust_anchor])[0].state == "Trusted"
    assert main(["verify", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["signature_info"]["common_name"] == "tessera signer"


def test_the_cli_signs_what_it_writes_videos_images_and_frame_folders(tmp_path, capsys):
    base = ["generate", "a red circle moves to the right", "--steps", "1", "--size", "64x64"]
    assert main([*base, "--frames", "5", "--out", str(tmp_path / "clip.mp4")]) == 0
    assert main([*base, "--frames", "5", "--out", str(tmp_path / "frames")]) == 0
    assert main([*base, "--frames", "1", "--out", str(tmp_path / "still.png")]) == 0
    capsys.readouterr()
    for name, count in (("clip.mp4", 1), ("frames", 5), ("still.png", 1)):
        results = provenance.verify(tmp_path / name)
        assert len(results) == count and all(r.state == "Trusted" for r in results), name
        sha = results[0].actions[0]["parameters"]["model_sha256"]
        assert sha == provenance.model_sha256(SHIPPED_MODEL)
    assert main(["verify", str(tmp_path / "frames")]) == 0


def test_the_default_policy_refuses_listed_phrases_in_english_and_chinese():
    for prompt in (
        "A DEEPFAKE of the mayor",
        "two deepfakes",
        "ｄｅｅｐｆａｋｅ video",
        "一段换脸的视频",
        "斩首",
    ):
        assert default_policy(prompt) is not None, prompt
    for prompt in ("a red circle moves to the right", "一个红色的圆从左向右移动", "a deep fake-looking lake"):
        assert default_policy(prompt) is None, prompt
    with pytest.raises(PromptRefused, match="deepfake"):
        check_prompts(default_policy, ["a ball", "a deepfake"])


def test_a_policy_named_on_the_command_line_replaces_the_default(tmp_path, monkeypatch, capsys):
    (tmp_path / "house_rules.py").write_text(
        "def check(prompt):\n    return 'no squares here' if 'square' in prompt else None\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "x.mp4"
    # Refused before the model is loaded: a Generator here would fail the test.
    monkeypatch.setattr("tessera.pipeline.Generator", None)
    assert main(["generate", "a blue square", "--policy", "house_rules:check", "--out", str(out)]) == 2
    assert "no squares here" in capsys.readouterr().err and not out.exists()
    assert main(["generate", "a deepfake", "--out", str(out)]) == 2
    assert "default word list" in capsys.readouterr().err
    for name, message in (
        ("house_rules", "package.module:function"),
        ("nowhere:check", "cannot import"),
        ("house_rules:missing", "no callable"),
    ):
        with pytest.raises(ValueError, match=message):
            load_policy(name)
    with pytest.raises(ValueError, match="None or a reason"):
        check_prompts(lambda prompt: True, ["a ball"])
    sys.modules.pop("house_rules", None)
