"""The per-step memory levers of issue 23 (toolkit/memory/levers.py and the modules it names).

One prepared tiny transformer (bf16, LoRA in the compute dtype, rank dropout on, gradient
checkpointing on) trains three AdamW steps with each lever and without; the levers that only
move memory ((b) checkpointed inputs on the host, (d) optimizer on the host, (e) block swap)
must leave the LoRA bit-identical. The CPU is both the host and the device here: the copies
go to separate CPU tensors, so the code paths run. Then each lever's own effect: what it
frees, what it never builds, and (a)'s learning against seed-to-seed noise.
"""

from __future__ import annotations

import copy
import statistics
import warnings
import weakref

import pytest
import torch
from network_helpers import load_transformer, transformer_inputs

from toolkit.configuration.loader import config_issues, validate_config_data
from toolkit.lora.network import Network, NetworkSettings
from toolkit.memory.checkpoint_offload import OffloadedCheckpoint
from toolkit.memory.ff_chunks import ChunkedFeedForward, chunk_feed_forwards
from toolkit.memory.levers import AUTO_FF_CHUNK_TOKENS, resolve_levers
from toolkit.memory.lora_precision import ComputeDtypeLinear
from toolkit.memory.offload import OffloadedLinear, offload_blocks, offload_outside_blocks
from toolkit.memory.optimizer_offload import HostOptimizerStep
from toolkit.train.optimizers import build_optimizer

CPU = torch.device("cpu")
STEPS = 3


@pytest.fixture(scope="module")
def bf16_base(tiny_model_dir):
    return load_transformer(tiny_model_dir, torch.bfloat16)


def step_inputs(dtype, step: int) -> dict:
    # 4x4x2 = 32 video tokens: a chunk of 8 tokens splits the feed-forward in four
    return transformer_inputs(dtype, video_tokens=(2, 4, 4), audio_tokens=20, seed=step)


class Trained:
    def __init__(self, network, losses, transformer, host_step, optimizer, stash):
        self.network, self.losses, self.transformer = network, losses, transformer
        self.host_step, self.optimizer, self.stash = host_step, optimizer, stash

    def lora(self) -> dict:
        return {k: v.detach().clone() for k, v in self.network.peft_state_dict().items()}


def prepare(base, *, offload_checkpoints=False, ff_chunk_tokens=0, layer_offloading=False,
            optimizer_offload=False, lora_precision="compute", cast_before_add=False, network="lora",
            rank_dropout=0.25, init_seed=0, state=None):
    """A copy of `base` with the levers applied in the order a run applies them (load: offload;
    LTX2Model._freeze: checkpointing and feed-forward chunks; then the network; then the optimizer)."""
    transformer = copy.deepcopy(base)
    if layer_offloading:
        offload_blocks(transformer.transformer_blocks, 1.0, CPU)
        offload_outside_blocks(transformer, "transformer_blocks", CPU)
    stash = OffloadedCheckpoint(CPU) if offload_checkpoints else None
    transformer.enable_gradient_checkpointing(stash)
    chunk_feed_forwards(transformer.transformer_blocks, ff_chunk_tokens)
    torch.manual_seed(init_seed)  # peft draws lora_A from the global generator
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        network = Network(transformer, NetworkSettings(type=network, rank=4, alpha=8, rank_dropout=rank_dropout,
                                                       lora_precision=lora_precision,
                                                       lora_cast_before_add=cast_before_add), device=CPU)
    if state is not None:
        network.load_peft_state_dict(state["lora"])
    transformer.train()
    params = network.parameters()
    host_step = HostOptimizerStep(params, CPU) if optimizer_offload else None
    optimizer = build_optimizer("adamw", host_step.host_params if host_step else params, 1e-2, {})
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
    return Trained(network, [], transformer, host_step, optimizer, stash)


def train(run: Trained, steps=range(STEPS), dtype=torch.bfloat16, target_seed=None) -> Trained:
    """AdamW steps as TrainProcess.train_step takes them (gather, clip, step, publish)."""
    trained = [p for group in run.optimizer.param_groups for p in group["params"]]
    for step in steps:
        torch.manual_seed(100 + step)  # rank dropout's draws, the same with and without a lever
        run.optimizer.zero_grad(set_to_none=True)
        if run.host_step:
            run.host_step.zero_device_grads()
        video, audio = run.transformer(**step_inputs(dtype, step if target_seed is None else target_seed * 97 + step))
        loss = video.float().square().mean() + audio.float().square().mean()
        loss.backward()
        if run.host_step:
            run.host_step.gather_gradients()
        torch.nn.utils.clip_grad_norm_(trained, 1.0)
        run.optimizer.step()
        if run.host_step:
            run.host_step.publish()
        run.losses.append(loss.item())
    return run


@pytest.fixture(scope="module")
def baseline(bf16_base):
    return train(prepare(bf16_base)).lora()


MEMORY_ONLY = {
    "offload_checkpoints": dict(offload_checkpoints=True),  # (b)
    "optimizer_offload": dict(optimizer_offload=True),  # (d)
    "layer_offloading": dict(layer_offloading=True),  # (e)
    "all three": dict(offload_checkpoints=True, optimizer_offload=True, layer_offloading=True),
}


@pytest.mark.parametrize("lever", list(MEMORY_ONLY))
def test_levers_that_only_move_memory_leave_the_lora_bit_identical(lever, bf16_base, baseline):
    run = train(prepare(bf16_base, **MEMORY_ONLY[lever]))
    lora = run.lora()
    assert lora.keys() == baseline.keys()
    changed = [k for k in lora if not torch.equal(lora[k], baseline[k])]
    assert not changed, changed[:3]
    assert any(v.abs().max() > 0 for k, v in lora.items() if "lora_B" in k)  # it trained
    if run.stash is not None:  # block 1's stream inputs went out and came back each step
        assert run.stash.stash.fetches == 2 * STEPS and run.stash.stash.bytes_out > 0
    offloaded = [m for m in run.transformer.modules() if isinstance(m, OffloadedLinear)]
    in_blocks = [m for m in run.transformer.transformer_blocks.modules() if isinstance(m, OffloadedLinear)]
    swapped = "layer_offloading" in MEMORY_ONLY[lever]
    assert len(in_blocks) == (56 if swapped else 0)
    # and the modulation embedders and projections outside the blocks, which backward never needs
    outside = [n for n, m in bf16_base.named_modules() if isinstance(m, torch.nn.Linear) and "transformer_blocks" not in n]
    assert len(offloaded) - len(in_blocks) == (len(outside) if swapped else 0) and outside
    assert all(m._resident is None for m in offloaded)  # block swap released every block after backward
    if run.host_step is not None:  # the optimizer's state belongs to the host copies
        state_params = set(run.optimizer.state)
        assert state_params == set(run.host_step.host_params)
        assert all(p.grad is None for p in run.host_step.device_params)  # released after the gather


def test_ff_chunks_same_output_and_gradients_up_to_the_chunk_sums_order(bf16_base):
    """(c) is not memory-only in the strict sense: a LoRA weight gradient is a sum over tokens,
    and chunks add their partial sums in another order. The forward pass is bit-identical;
    the gradients differ by rounding only (Adam would then amplify that, so one backward pass
    is compared, not the trained weights). Rank dropout is off: each chunk draws its own mask."""
    run, reference = prepare(bf16_base, ff_chunk_tokens=8, rank_dropout=0.0), prepare(bf16_base, rank_dropout=0.0)
    seen = []
    for block in run.transformer.transformer_blocks:
        assert isinstance(block.ff, ChunkedFeedForward) and isinstance(block.audio_ff, ChunkedFeedForward)
        block.ff.net[0].register_forward_hook(lambda m, args, out: seen.append(args[0].shape[-2]))
    inputs = step_inputs(torch.bfloat16, 0)
    outputs = [r.transformer(**inputs) for r in (run, reference)]
    assert all(torch.equal(a, b) for a, b in zip(*outputs, strict=True))
    for video, audio in outputs:
        (video.float().square().mean() + audio.float().square().mean()).backward()
    # forward, the block's recomputation and each chunk's own recomputation: never all 32 tokens
    assert seen and max(seen) == 8
    grads = [{n: p.grad for n, p in r.transformer.named_parameters() if p.requires_grad} for r in (run, reference)]
    assert grads[0].keys() == grads[1].keys()
    for key, grad in grads[1].items():
        assert (grads[0][key] - grad).abs().max() <= 1e-2 * grad.abs().max(), key
    same = sum(torch.equal(grads[0][k], grads[1][k]) for k in grads[1])
    assert 0 < same < len(grads[1])  # the attention layers' gradients are untouched


def test_offloaded_checkpoint_frees_the_block_inputs_until_backward(bf16_base):
    """(b): without the lever the checkpoint keeps block 1's input tensor alive from the
    forward pass to the backward pass; with it only the host copy is kept."""
    alive = {}
    for offload in (False, True):
        run = prepare(bf16_base, offload_checkpoints=offload)
        refs = []
        run.transformer.transformer_blocks[1].register_forward_pre_hook(
            lambda m, args, refs=refs: refs.append(weakref.ref(args[0])) if torch.is_grad_enabled() else None)
        video, audio = run.transformer(**step_inputs(torch.bfloat16, 0))
        alive[offload] = refs[0]() is not None
        (video.float().square().mean() + audio.float().square().mean()).backward()
        if offload:
            tokens = 32 * 32 + 20 * 32  # block 1's video and audio inputs (width 32, bf16)
            assert run.stash.stash.bytes_out == tokens * 2 and run.stash.stash.fetches == 2
    assert alive == {False: True, True: False}


def test_optimizer_on_the_host_resumes_exactly_from_either_layout(bf16_base, baseline):
    """(d): 2 steps, save (LoRA + optimizer state), load into a fresh run, 1 step = 3 straight
    steps, whether the saving or the loading run has the lever."""
    straight = baseline
    for save_with, load_with in ((True, False), (False, True)):
        first = train(prepare(bf16_base, optimizer_offload=save_with), steps=range(2))
        state = {"lora": first.network.peft_state_dict(), "optimizer": copy.deepcopy(first.optimizer.state_dict())}
        resumed = train(prepare(bf16_base, optimizer_offload=load_with, state=state), steps=range(2, 3)).lora()
        assert all(torch.equal(resumed[k], straight[k]) for k in straight), (save_with, load_with)


def test_optimizer_on_the_host_takes_each_gradient_as_backward_finishes_it(bf16_base):
    """(d) in one process: no adapter gradient is left on the device after backward (they
    would pile up to 1.3 GiB at LTX-2.3's size while backward walks down the blocks), and two
    micro-batches add up on the host to exactly what the device would have held."""
    on_device, streamed = prepare(bf16_base), prepare(bf16_base, optimizer_offload=True)
    for micro in range(2):
        for run in (on_device, streamed):
            torch.manual_seed(100 + micro)
            video, audio = run.transformer(**step_inputs(torch.bfloat16, micro))
            (video.float().square().mean() + audio.float().square().mean()).backward()
        streamed.host_step.after_backward()
        assert all(p.grad is None for p in streamed.host_step.device_params)
    device = [p.grad for p in on_device.network.parameters()]
    host = [p.grad for p in streamed.host_step.host_params]
    assert sum(g is not None for g in device) > 0
    assert all((a is None and b is None) or torch.equal(a, b) for a, b in zip(device, host, strict=True))


def float32_saved_by_adapters(transformer, inputs) -> int:
    """Bytes of the float32 tensors autograd saves while an adapter factor (lora_A, lora_B) runs."""
    inside = []
    for name, module in transformer.named_modules():
        if name.endswith(("lora_A.default", "lora_B.default")):
            module.register_forward_pre_hook(lambda m, args: inside.append(m) and None)
            module.register_forward_hook(lambda m, args, out: inside.pop() and None)
    found = {}

    def pack(tensor):
        if inside and tensor.dtype == torch.float32 and not isinstance(tensor, torch.nn.Parameter):
            found[tensor.data_ptr()] = tensor.numel() * 4
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        transformer(**inputs)
    return sum(found.values())


@pytest.mark.parametrize("network", ["lora", "dora"])
def test_compute_precision_keeps_no_float32_input_copies(network, bf16_base):
    """(a): peft's float32 math saves a float32 copy of each adapted layer's input; compute
    precision saves none, while the weights and their gradients stay float32."""
    inputs = step_inputs(torch.bfloat16, 0)
    copies = {}
    for precision in ("float32", "compute"):
        run = prepare(bf16_base, lora_precision=precision, network=network, rank_dropout=0.0)
        run.transformer.disable_gradient_checkpointing()  # count what a block saves
        copies[precision] = float32_saved_by_adapters(run.transformer, inputs)
        if precision == "compute":
            assert any(isinstance(m, ComputeDtypeLinear) for m in run.transformer.modules())
            video, audio = run.transformer(**inputs)
            (video.float().square().mean() + audio.float().square().mean()).backward()
            params = run.network.parameters()
            assert params and all(p.dtype == torch.float32 and p.grad.dtype == torch.float32 for p in params)
            assert video.dtype == torch.bfloat16
    # 56 adapted layers, each input at least 20 tokens x 32 wide in float32
    assert copies["float32"] >= 56 * 20 * 32 * 4
    assert copies["compute"] == 0


def test_cast_before_add_sums_in_the_compute_dtype(bf16_base):
    """(f): with float32 adapter math, the adapter output is cast before the add (ai-toolkit's
    order) instead of the sum being taken in float32 and cast after (peft's)."""
    outputs, expected = {}, {}
    for cast in (False, True):
        run = prepare(bf16_base, lora_precision="float32", cast_before_add=cast, rank_dropout=0.0)
        for p in run.network.parameters():
            torch.nn.init.normal_(p, std=0.3, generator=torch.Generator().manual_seed(p.numel()))
        layer = run.transformer.transformer_blocks[0].attn1.to_q
        x = torch.randn(1, 8, 32, generator=torch.Generator().manual_seed(1)).to(torch.bfloat16)
        with torch.no_grad():
            outputs[cast] = layer(x)
            base = layer.get_base_layer()(x)
            a, b = layer.lora_A["default"].weight, layer.lora_B["default"].weight
            delta = torch.nn.functional.linear(torch.nn.functional.linear(x.float(), a), b) * layer.scaling["default"]
            expected[cast] = base + delta.to(torch.bfloat16) if cast else (base + delta).to(torch.bfloat16)
    assert torch.equal(outputs[True], expected[True]) and torch.equal(outputs[False], expected[False])
    assert not torch.equal(outputs[True], outputs[False])


def test_compute_precision_learns_within_seed_to_seed_noise(bf16_base):
    """(a) changes rounding only: over 4 seeds (each its own init and targets), the loss a
    compute-precision run reaches differs from its float32 twin (same seed) by less than the
    loss differs between seeds. bench/lora_precision.py runs the same comparison on the real
    trainer over longer runs."""
    final = {"float32": [], "compute": []}
    for seed in range(4):
        for precision in final:
            run = prepare(bf16_base, lora_precision=precision, init_seed=seed, rank_dropout=0.0)
            run.transformer.disable_gradient_checkpointing()  # not what is compared; a third of the time
            train(run, steps=range(10), target_seed=seed)
            assert run.losses[-1] < run.losses[0]  # it learns
            final[precision].append(statistics.mean(run.losses[-4:]))
    spread = statistics.stdev(final["float32"])
    gaps = [abs(c - f) for c, f in zip(final["compute"], final["float32"], strict=True)]
    assert max(gaps) < 0.5 * spread, (gaps, spread)


# ------------------------------------------------------------------ keys and the automatic rule

def minimal_config(**process) -> dict:
    proc = {"model": {"name_or_path": "Lightricks/LTX-2"}, "datasets": [{"folder_path": "/data/clips"}]}
    proc.update(process)
    return {"job": "extension", "config": {"name": "run1", "process": [proc]}}


def levers_of(device_type="cpu", **process):
    return resolve_levers(validate_config_data(minimal_config(**process)).job.config.process[0], device_type)


def test_automatic_levers_follow_the_documented_rule():
    plain = levers_of()  # bf16 LoRA on a roomy device
    assert (plain.lora_precision, plain.lora_cast_before_add, plain.offload_checkpoints, plain.ff_chunk_tokens,
            plain.optimizer_offload, plain.layer_offloading) == ("compute", True, False, 0, False, False)
    fp32 = levers_of(train={"dtype": "fp32"})
    assert (fp32.lora_precision, fp32.lora_cast_before_add) == ("float32", False)
    fp16 = levers_of(train={"dtype": "fp16"})
    assert (fp16.lora_precision, fp16.lora_cast_before_add) == ("float32", True)
    tight = levers_of("cuda", model={"name_or_path": "Lightricks/LTX-2", "layer_offloading": True})
    assert (tight.offload_checkpoints, tight.ff_chunk_tokens, tight.optimizer_offload, tight.layer_offloading) == \
        (True, AUTO_FF_CHUNK_TOKENS, True, True)
    on_cpu = levers_of("cpu", model={"name_or_path": "Lightricks/LTX-2", "layer_offloading": True})
    assert (on_cpu.offload_checkpoints, on_cpu.ff_chunk_tokens, on_cpu.optimizer_offload) == (False, 0, False)
    explicit = levers_of("cuda", train={"lora_precision": "float32", "lora_cast_before_add": "auto",
                                        "ff_chunk_tokens": 0, "optimizer_offload": True},
                         model={"name_or_path": "Lightricks/LTX-2", "low_vram": True})
    assert (explicit.lora_precision, explicit.lora_cast_before_add, explicit.ff_chunk_tokens,
            explicit.optimizer_offload, explicit.offload_checkpoints) == ("float32", True, 0, True, True)
    assert explicit.describe().endswith(
        "(chosen automatically: layer_offloading, lora_cast_before_add, offload_checkpoints)")
    lokr = levers_of(network={"type": "lokr"})
    assert (lokr.lora_precision, lokr.lora_cast_before_add) == ("float32", False)


@pytest.mark.parametrize("settings, words", [
    (dict(train={"lora_precision": "compute", "lora_cast_before_add": False}), "lora_cast_before_add: false needs"),
    (dict(train={"offload_checkpoints": True, "gradient_checkpointing": False}), "needs train.gradient_checkpointing"),
    (dict(train={"optimizer_offload": True, "optimizer": "adamw8bit"}), "cannot step optimizer 'adamw8bit'"),
    (dict(network={"type": "lokr"}, train={"lora_precision": "compute"}), "LoKr keeps peft's float32 math"),
])
def test_lever_combinations_that_cannot_work_are_config_errors(settings, words):
    issues = config_issues(minimal_config(**settings))
    assert len(issues) == 1 and words in issues[0]["message"], issues
