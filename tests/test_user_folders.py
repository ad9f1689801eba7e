"""Issue 24 items 3, 4 and 7: a dataset folder as users leave it. A training run's output
folder inside it (this trainer's or ai-toolkit's) is never read as data and said once; an
empty caption file, a caption path that is a folder, a caption saved as UTF-16 (NUL bytes)
and a caption longer than the text encoder reads are each said by the run, listed in
dataset_problems.txt and named by `--check`; a symbolic link that loops is called that.
One folder serves every test: one `--check` and one run start (`prepare`) read it."""

from __future__ import annotations

import os
import shutil

import pytest
import yaml
from conftest import prepared, tiny_config
from dataset_helpers import noise_clip

from toolkit.configuration.loader import ConfigValidationError, validate_config_data
from toolkit.dataset.discovery import discover_dataset
from toolkit.errors import UserInputError
from toolkit.run.output import RunOutput

LONG_CAPTION = "a person speaks slowly " * 300  # 6,900 characters, 1,200 words


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("user_folder")
    data = root / "data"
    data.mkdir()
    for index, name in enumerate(("good", "empty", "caption_dir", "utf16", "long")):
        noise_clip(data / f"{name}.mp4", frames=10, seed=index, caption=f"the {name} clip")  # one window each
    (data / "empty.txt").write_text("   \n")
    (data / "caption_dir.txt").unlink()
    (data / "caption_dir.txt").mkdir()
    (data / "utf16.txt").write_bytes("a woman says hello".encode("utf-16-le"))  # no BOM: NUL after each letter
    (data / "long.txt").write_text(LONG_CAPTION)
    os.symlink("loop_b.mp4", data / "loop_a.mp4")
    os.symlink("loop_a.mp4", data / "loop_b.mp4")
    for name in ("loop_a", "loop_b"):
        (data / f"{name}.txt").write_text("a clip that is not there")
    # This trainer's run folder, written by its own writer, with a sample and a base sample.
    ours = RunOutput(data / "output" / "run1", "run1")
    ours.update_status(state="training", step=10)
    ours.save_config({"job": "extension"})
    ours.close()
    (ours.samples / "base").mkdir(parents=True)
    shutil.copy(data / "good.mp4", ours.samples / "000000010_00.mp4")
    shutil.copy(data / "good.mp4", ours.samples / "base" / "0123456789abcdef.mp4")
    # An ai-toolkit run folder: its config copy, a step checkpoint and a sample.
    aitk = data / "aitk" / "my_lora"
    (aitk / "samples").mkdir(parents=True)
    (aitk / "config.yaml").write_text("job: extension\n")
    (aitk / "my_lora_000000250.safetensors").write_bytes(b"\0" * 16)
    shutil.copy(data / "good.mp4", aitk / "samples" / "1734567890123__000000250_0.mp4")
    return data


@pytest.fixture(scope="module")
def checked(folder, tiny_model_dir, tmp_path_factory):
    """`run.py CONFIG --check` on the folder, in this process: (exit code, stdout, stderr)."""
    import contextlib
    import io

    import run

    config = tmp_path_factory.mktemp("check") / "c.yaml"
    config.write_text(yaml.safe_dump(tiny_config(tiny_model_dir, folder, config.parent / "out")))
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run.main([str(config), "--check"])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def started(folder, tiny_model_dir, tmp_path_factory):
    """A run start (prepare: caching included) on the folder: (log.txt, dataset_problems.txt, items)."""
    import toolkit.run.progress as progress_module

    out = tmp_path_factory.mktemp("run")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(progress_module, "LOG_EVERY_S", 0.0)  # a progress line after every item (item 8)
        proc = prepared(tiny_config(tiny_model_dir, folder, out, name="u", **{"datasets.0.window_variants": 1}))
    try:
        return ((out / "u" / "log.txt").read_text(), (out / "u" / "dataset_problems.txt").read_text(),
                list(proc.items))
    finally:
        proc.out.close()
        proc.lock.release()


# ------------------------------------------------------------------ item 3: output folders

def test_output_folders_inside_the_dataset_are_not_data(folder):
    scan = discover_dataset(folder)
    names = sorted(f.path.name for f in scan.files)
    assert names == ["caption_dir.mp4", "empty.mp4", "good.mp4", "long.mp4", "loop_a.mp4", "loop_b.mp4",
                     "utf16.mp4"]
    assert [(p.relative_to(folder).as_posix(), why) for p, why in scan.skipped_outputs] == [
        ("aitk/my_lora", "config.yaml, my_lora_000000250.safetensors"),
        ("output/run1", "status.json, log.txt, config.yaml")]


def test_the_check_and_the_run_say_so_once(checked, started, folder):
    _, out, _ = checked
    assert out.count("training output folder(s) inside") == 1
    assert f"{folder / 'output' / 'run1'} (status.json, log.txt, config.yaml)" in out
    log, _, items = started
    assert log.count("training output folder(s) inside") == 1
    assert not [i for i in items if "samples" in i.path]


def test_a_dataset_folder_that_is_a_run_folder_is_refused(folder):
    with pytest.raises(UserInputError, match=r"is the output folder of a training run \(status.json"):
        discover_dataset(folder / "output" / "run1")


def test_caching_shows_progress_in_the_log(started):
    """Issue 24 item 8: the caching pass (audio scans, cache verification, encoding) writes its
    progress to log.txt for the web UI, not only a console bar."""
    log, _, _ = started
    assert "caching data: 1/7 files" in log and "caching data: 6/7 files" in log


# ------------------------------------------------------------------ item 4: captions

def test_caption_problems_are_named_by_the_check(checked, folder):
    code, out, _ = checked
    assert code == 2
    problems = out.split("  problems (", 1)[1]
    assert f"{folder / 'empty.mp4'}: the caption file empty.txt is empty: write the caption in it" in problems
    assert (f"{folder / 'caption_dir.mp4'}: its caption path caption_dir.txt is a folder, not a file; the caption "
            "must be a text file beside the clip") in problems
    notes = out.split("  notes (", 1)[1].split("  problems (", 1)[0]
    assert (f"{folder / 'utf16.mp4'}: caption utf16.txt: 18 control character(s) removed (NUL x18); the file looks "
            "saved as UTF-16: re-save it as UTF-8") in notes
    assert (f"{folder / 'long.mp4'}: its caption is about 1,725 tokens (6,899 characters); the text encoder reads "
            "the first 1,024 and ignores the rest") in notes
    assert "captions: 1 missing, 1 empty" in out  # the folder counts as missing


def test_the_run_says_each_and_lists_them(started, folder):
    log, problems, items = started
    assert f"{folder / 'empty.mp4'}: its caption file empty.txt is empty; training it with an empty caption" in log
    assert f"{folder / 'caption_dir.mp4'}: its caption path caption_dir.txt is a folder, not a file" in log
    assert f"note: {folder / 'utf16.mp4'}: caption utf16.txt: 18 control character(s) removed (NUL x18)" in log
    assert (f"1 file(s) have captions longer than the text encoder reads (128 tokens; the rest of each is "
            f"ignored, so shorten them): {folder / 'long.mp4'}: its caption is 1,200 tokens (6,899 characters)") in log
    listed = {tuple(line.split("\t")[:2]) for line in problems.splitlines()}
    assert {("empty caption", str(folder / "empty.mp4")), ("unreadable caption", str(folder / "caption_dir.mp4")),
            ("long caption", str(folder / "long.mp4"))} <= listed
    captions = {os.path.basename(i.path): i.caption for i in items}
    assert captions["utf16.mp4"] == "a woman says hello"  # what a person reads, without the NULs


def test_two_datasets_on_one_folder(folder, tiny_model_dir, tmp_path):
    def config(*datasets):
        cfg = tiny_config(tiny_model_dir, folder, tmp_path)
        base = cfg["config"]["process"][0]["datasets"][0]
        cfg["config"]["process"][0]["datasets"] = [dict(base, **d) for d in datasets]
        return cfg

    with pytest.raises(ConfigValidationError, match=r"datasets\[0\] and datasets\[1\] both read .* with the same "
                                                    r"settings: every file would train twice as often"):
        validate_config_data(config({}, {"folder_path": str(folder) + "/"}))  # the same folder, spelled otherwise
    warnings = validate_config_data(config({}, {"resolution": [96]})).warnings
    assert [w for w in warnings if "both read" in w] == [
        f"config.process[0].datasets[0] and [1] both read {folder} (they differ in: resolution [64] / [96]): each "
        "file trains once per entry. Fine if deliberate (e.g. two resolutions); otherwise remove one"]
    nested = validate_config_data(config({}, {"folder_path": str(folder / "output")})).warnings
    assert any("datasets[1]'s folder is inside config.process[0].datasets[0]'s" in w for w in nested)


def test_sampling_on_with_no_prompt_is_said_once(folder, tiny_model_dir, tmp_path):
    cfg = tiny_config(tiny_model_dir, folder, tmp_path, **{"train.disable_sampling": False, "sample.samples": []})
    warnings = validate_config_data(cfg).warnings
    assert [w for w in warnings if "sample.samples" in w] == [
        "config.process[0].sample.samples is empty while sampling is on: no samples are rendered during training "
        "(and the voice metric has nothing to score). Add prompts under sample.samples, or set "
        "train.disable_sampling: true"]
    cfg = tiny_config(tiny_model_dir, folder, tmp_path, **{"sample.samples": []})  # sampling off: nothing to say
    assert not [w for w in validate_config_data(cfg).warnings if "sample.samples" in w]
    cfg = tiny_config(tiny_model_dir, folder, tmp_path, **{"train.disable_sampling": False})
    del cfg["config"]["process"][0]["sample"]  # no sample section: no samples were asked for
    assert not [w for w in validate_config_data(cfg).warnings if "sample.samples" in w]


# ------------------------------------------------------------------ item 7: wording

def test_a_link_that_loops_is_called_that(checked, started, folder):
    _, out, _ = checked
    assert f"{folder / 'loop_a.mp4'}: unreadable, a run skips it: is a symbolic link that loops (loop_a.mp4 -> " \
           "loop_b.mp4 -> ...): point it at a real file or remove it" in out
    log, problems, _ = started
    assert f"skipping {folder / 'loop_b.mp4'}: is a symbolic link that loops" in log
    assert "file not found" not in out + log


@pytest.mark.parametrize("key, value, message", [
    ("train.lr", float("nan"), "config.process[0].train.lr (nan) must be a finite number"),
    ("train.lr", float("inf"), "config.process[0].train.lr (inf) must be a finite number"),
])
def test_a_nan_is_not_a_number_out_of_bounds(folder, tiny_model_dir, tmp_path, key, value, message):
    with pytest.raises(ConfigValidationError) as info:
        validate_config_data(tiny_config(tiny_model_dir, folder, tmp_path, **{key: value}))
    assert [i.line() for i in info.value.issues] == [message]


def test_a_name_that_climbs_out_of_training_folder_is_refused(folder, tiny_model_dir, tmp_path):
    with pytest.raises(ConfigValidationError) as info:
        validate_config_data(tiny_config(tiny_model_dir, folder, tmp_path, name="../../escaped"))
    assert [i.line() for i in info.value.issues] == [
        "config.name ('../../escaped') points outside training_folder: the name is one folder inside it (and the "
        "LoRA's file name). Give a plain name (letters, digits, _ - .), and set training_folder to choose where "
        "runs are written"]
    assert validate_config_data(tiny_config(tiny_model_dir, folder, tmp_path, name="alice/v1")).name == "alice_v1"


@pytest.mark.parametrize("make, what", [
    (lambda p: os.mkfifo(p), "is a named pipe (FIFO), not a regular file"),  # reading it would hang the run
    (lambda p: os.symlink("gone.txt", p), "is a symbolic link to gone.txt, which does not exist"),
    (lambda p: os.symlink(p.name, p), "is a symbolic link that loops"),
])
def test_a_caption_path_that_is_no_file_says_what_it_is(tmp_path, make, what):
    noise_clip(tmp_path / "clip.mp4", frames=10, caption=None)
    make(tmp_path / "clip.txt")
    (file,) = discover_dataset(tmp_path).files
    assert file.caption_source == "unreadable" and file.caption == ""
    assert file.caption_problem.startswith(f"its caption path clip.txt {what}")
