"""The best step per criterion and the voice drift warning (issue 27, item 5), and the audio
quota of the batch sampler (item 4): pure logic, no model."""

from __future__ import annotations

from dataclasses import dataclass

from toolkit.run.resume_diff import compare
from toolkit.train.audio_quota import AudioQuotaSampler, voiced
from toolkit.train.batching import BucketBatchSampler
from toolkit.train.best_checkpoints import BestTracker


def test_each_criterion_keeps_its_best_step_and_file():
    tracker = BestTracker(val_criterion="val_audio_loss")
    assert tracker.offer(0, {"val_audio_loss": 1.5, "val_video_loss": 1.3}) == ["val_audio_loss", "val_video_loss"]
    assert tracker.offer(2, {"val_audio_loss": 1.2, "val_video_loss": 1.4}) == ["val_audio_loss"]
    assert tracker.offer(4, {"val_audio_loss": None, "voice_similarity": 0.4}) == ["voice_similarity"]
    assert tracker.offer(6, {"voice_similarity": 0.3, "val_audio_loss": float("nan")}) == []
    status = tracker.status("run")
    assert status["val_audio_loss"] == {"step": 2, "value": 1.2, "label": "validation audio loss",
                                        "file": "run_best_val.safetensors"}
    assert status["val_video_loss"]["step"] == 0 and status["val_video_loss"]["file"] is None
    assert status["voice_similarity"]["file"] == "run_best_voice.safetensors"
    lines = tracker.summary_lines("run")
    assert lines[0] == "best step by validation audio loss (lowest): 2 (1.2000) -> run_best_val.safetensors"
    assert "best step by voice similarity (highest): 4 (0.4000) -> run_best_voice.safetensors" in lines
    restored = BestTracker(val_criterion="val_audio_loss")
    restored.load_state_dict(tracker.state_dict())
    assert restored.offer(8, {"val_audio_loss": 1.3}) == [] and restored.best == tracker.best


def drift(tracker, samplings):
    """Feed (similarity, training losses since the previous sampling) per sampling; the warnings."""
    warnings = []
    for step, (similarity, losses) in enumerate(samplings):
        for loss in losses:
            tracker.note_training_loss(loss)
        tracker.offer(step * 100, {"voice_similarity": similarity})
        warnings.append(tracker.voice_drift(step * 100, similarity, None))
    return warnings


def test_voice_falling_three_samplings_while_the_loss_improves_is_said_once():
    tracker = BestTracker()
    said = drift(tracker, [(0.50, [1.0]), (0.60, [0.9]), (0.55, [0.8]), (0.50, [0.7]), (0.45, [0.6]),
                           (0.40, [0.5]), (0.35, [0.4]), (0.30, [0.3]), (0.25, [0.2])])
    assert [i for i, w in enumerate(said) if w] == [4, 7], said  # after 3 falls, then after 3 more
    assert "steps 100, 200, 300, 400" in said[4] and "0.600 > 0.550 > 0.500 > 0.450" in said[4]
    assert "training loss still improved (0.9000 -> 0.6000)" in said[4]
    assert "the voice was best at step 100 (0.600)" in said[4]


def test_no_warning_when_the_loss_worsens_too_or_the_voice_recovers():
    assert not any(drift(BestTracker(), [(0.6, [0.5]), (0.5, [0.6]), (0.4, [0.7]), (0.3, [0.8])]))
    assert not any(drift(BestTracker(), [(0.6, [0.9]), (0.5, [0.8]), (0.55, [0.7]), (0.5, [0.6]), (0.45, [0.5])]))
    tracker = BestTracker()
    for similarity, loss in ((0.6, 1.0), (0.5, 0.9), (0.4, 0.8)):
        assert tracker.voice_drift(0, similarity, loss) is None
    warning = tracker.voice_drift(0, 0.3, 0.7)  # the validation loss, when there is one, is the loss
    assert warning and "validation loss still improved (1.0000 -> 0.7000)" in warning


@dataclass
class Item:
    name: str
    has_audio: bool
    shape: tuple = (1,)

    def bucket_key(self):
        return self.shape


def test_audio_quota_keeps_the_share_draws_from_the_seed_and_resumes_exactly():
    items = [Item("voice", True)] + [Item(f"still{i}", False) for i in range(9)]
    quota = AudioQuotaSampler(BucketBatchSampler(items, 1, seed=3), 0.4, seed=3)
    plain = BucketBatchSampler(items, 1, seed=3)
    drawn = [quota.next_batch() for _ in range(30)]
    for n in range(1, 31):
        assert sum(voiced(b) for b in drawn[:n]) >= int(0.4 * n + 1e-9), n
    assert sum(voiced(b) for b in drawn) == 12 and quota.stand_ins > 0
    plain_epochs = [plain.next_batch()[0].name for _ in range(10)]
    unvoiced = [b[0].name for b in drawn if not voiced(b)][:9]
    assert unvoiced == [n for n in plain_epochs if n != "voice"], "every planned batch still trains, in order"

    resumed = AudioQuotaSampler(BucketBatchSampler(items, 1, seed=3), 0.4, seed=3)
    again = AudioQuotaSampler(BucketBatchSampler(items, 1, seed=3), 0.4, seed=3)
    first = [again.next_batch() for _ in range(13)]
    resumed.load_state_dict(again.state_dict())
    assert [b[0].name for b in first] == [b[0].name for b in drawn[:13]]
    assert [resumed.next_batch()[0].name for _ in range(17)] == [b[0].name for b in drawn[13:]]
    old_state = BucketBatchSampler(items, 1, seed=3).state_dict()  # a checkpoint from before the quota
    AudioQuotaSampler(BucketBatchSampler(items, 1, seed=3), 0.4, seed=3).load_state_dict(old_state)


def test_resume_refuses_adding_audio_lr_and_notes_changing_it():
    base = {"train": {"lr": 1e-4, "audio_lr": None}, "network": {}}
    added = compare(base, {"train": {"lr": 1e-4, "audio_lr": 3e-5}, "network": {}})
    assert [key for key, _, _ in added.blocking] == ["train.audio_lr"], "the optimizer's groups change"
    changed = compare({"train": {"lr": 1e-4, "audio_lr": 3e-5}}, {"train": {"lr": 1e-4, "audio_lr": 1e-5}})
    assert not changed.blocking and [key for key, _, _ in changed.schedule] == ["train.audio_lr"]
    rank = compare({"network": {"audio_linear": None}}, {"network": {"audio_linear": 8}})
    assert [key for key, _, _ in rank.blocking] == ["network.audio_linear"]


def test_a_partly_scored_global_batch_weighs_items_alike_on_n_ranks_and_one():
    import torch

    from toolkit.train.scoring import scored_loss

    values = torch.tensor([0.5, 2.0, 1.0, 4.0, 3.0, 0.25])
    scored = torch.tensor([True, False, False, False, True, True])  # rank 1 (items 2-3) scores none
    one = scored_loss(values, scored, 3, 3, 6, 1)
    assert one == values[scored].mean()
    ranks = [scored_loss(values[i:i + 2], scored[i:i + 2], int(scored[i:i + 2].sum()), 3, 6, 3) for i in (0, 2, 4)]
    assert ranks[1] is None  # that rank's gradient is averaged in as zeros
    assert torch.isclose(sum(r for r in ranks if r is not None) / 3, one)
    assert scored_loss(values, torch.ones(6, dtype=torch.bool), 6, 6, 6, 1) == values.mean()
