"""What a config posted to the web UI may reach: the environment (`${VAR}` only from the
server's allow-list, values never echoed), dataset files (only inside the datasets root, links
included; the command line follows links), and no message of the trainer prints a file's
contents, whatever file a path key names."""

from __future__ import annotations

import json
import struct

import pytest
import yaml
from conftest import copy_media, tiny_config

import run
from toolkit.configuration.env_substitution import ENV_ALLOW_VAR
from toolkit.configuration.loader import config_issues
from toolkit.dataset.confinement import CONFINE_VAR
from toolkit.dataset.discovery import discover_dataset
from toolkit.errors import UserInputError

SECRET = "TOPSECRET-7f3a-line"


def _with_caption_ext(value: str) -> dict:
    return {"job": "extension", "config": {"name": "x", "process": [{
        "type": "sd_trainer", "model": {"name_or_path": "models/tiny-ltx2"},
        "datasets": [{"folder_path": "data/synthetic", "caption_ext": value}]}]}}


def test_env_substitution_from_the_ui_only_from_the_allow_list(monkeypatch):
    monkeypatch.setenv("LTX2_TEST_SECRET", SECRET)
    monkeypatch.setenv("LTX2_TEST_EXT", "txt")
    # the command line: every variable, as in ai-toolkit
    monkeypatch.delenv(ENV_ALLOW_VAR, raising=False)
    assert config_issues(_with_caption_ext("${LTX2_TEST_EXT}")) == []
    # the web UI: nothing unless allowed, and the value appears in no message
    monkeypatch.setenv(ENV_ALLOW_VAR, "")
    issues = config_issues(_with_caption_ext("${LTX2_TEST_SECRET}"))
    assert SECRET not in json.dumps(issues)
    assert [i["path"] for i in issues] == ["config.process[0].datasets[0].caption_ext"]
    assert "uses ${LTX2_TEST_SECRET}, but a config from the web UI may substitute only" in issues[0]["message"]
    assert "(LTX2_CONFIG_ENV_ALLOW: none)" in issues[0]["message"]
    monkeypatch.setenv(ENV_ALLOW_VAR, "LTX2_TEST_EXT, HOME")
    assert config_issues(_with_caption_ext("${LTX2_TEST_EXT}")) == []
    assert SECRET not in json.dumps(config_issues(_with_caption_ext("${LTX2_TEST_SECRET}")))


def test_dataset_links_followed_from_the_cli_and_refused_for_a_ui_job(synthetic_dir, tmp_path, monkeypatch):
    root = tmp_path / "datasets"
    ds = copy_media(synthetic_dir, root / "ds", ["clip_000.mp4"])
    elsewhere = copy_media(synthetic_dir, tmp_path / "elsewhere", ["clip_001.mp4"])
    (ds / "linked.mp4").symlink_to(elsewhere / "clip_001.mp4")
    (ds / "linked.txt").write_text("a clip from another disk\n")
    monkeypatch.delenv(CONFINE_VAR, raising=False)
    scan = discover_dataset(ds)
    assert [f.path.name for f in scan.files] == ["clip_000.mp4", "linked.mp4"]  # the user's own link trains
    monkeypatch.setenv(CONFINE_VAR, str(root))
    with pytest.raises(UserInputError, match=r"dataset file .*linked\.mp4 \(a link to .*elsewhere/clip_001\.mp4\) "
                                             r"is outside the datasets root .*LTX2_CONFINE_DATASETS"):
        discover_dataset(ds)
    (ds / "linked.mp4").unlink()
    (ds / "linked.txt").unlink()
    secret = tmp_path / "passwd"
    secret.write_text(f"root:x:0:0:{SECRET}\n")
    (ds / "clip_000.txt").unlink(missing_ok=True)
    (ds / "clip_000.txt").symlink_to(secret)  # a caption link: refused before it is read
    with pytest.raises(UserInputError) as err:
        discover_dataset(ds)
    assert "caption file" in str(err.value) and SECRET not in str(err.value)
    (ds / "clip_000.txt").unlink()
    other = copy_media(synthetic_dir, root / "other", ["clip_002.mp4"])
    (ds / "clip_000.txt").symlink_to(other / "clip_002.txt")  # inside the root: fine
    assert discover_dataset(ds).files[0].caption_source == "file"


def _secret_files(tmp_path):
    plain = tmp_path / "passwd"
    plain.write_text(f"root:x:0:0:{SECRET}:/root:/bin/bash\n")
    header = json.dumps({"__metadata__": {"note": SECRET}, SECRET: {"dtype": "F32", "shape": [1], "data_offsets": [0, 8]}})
    fake = tmp_path / "fake.safetensors"  # a header naming the secret, its data cut short
    fake.write_bytes(struct.pack("<Q", len(header)) + header.encode() + b"\0" * 4)
    jsonish = tmp_path / "config.json"
    jsonish.write_text('{"' + SECRET + '": [1, 2')
    return plain, fake, jsonish


@pytest.mark.parametrize("key", ["network.pretrained_lora_path", "model.te_name_or_path", "model.extras_name_or_path",
                                 "model.name_or_path", "model.model_kwargs.dit_path", "sample.samples.0.ctrl_img"])
def test_no_message_prints_a_files_contents(key, tmp_path, tiny_model_dir, synthetic_dir, capsys):
    """Each path key pointed at a text file, a JSON file and a .safetensors file whose header
    names a secret: --validate and --check refuse or accept it, never quoting the file."""
    ds = copy_media(synthetic_dir, tmp_path / "ds", ["clip_000.mp4"])
    for target in (*_secret_files(tmp_path), tmp_path):
        cfg = tiny_config(tiny_model_dir, ds, tmp_path / "out", **{key: str(target)})
        path = tmp_path / "c.yaml"
        path.write_text(yaml.safe_dump(cfg))
        for mode in ("--validate", "--check"):
            code = run.main([mode, str(path)])
            out = capsys.readouterr()
            assert SECRET not in out.out + out.err, (key, target.name, mode)
            assert code in (0, 2)
