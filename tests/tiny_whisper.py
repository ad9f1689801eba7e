"""A tiny Whisper made offline from transformers' own classes, for the speech-to-text path of
`python -m toolkit.prepare` (toolkit/voice/transcribe.py) where no real Whisper can be
downloaded.

It is a real WhisperForConditionalGeneration (1 encoder and 1 decoder layer, d_model 16) with
a real WhisperTokenizer (a byte-level BPE over the 256 byte symbols plus a few whole words,
then Whisper's special tokens in Whisper's order), WhisperFeatureExtractor and a generation
config with the ids Whisper's generate() reads (decoder start, language and task tokens,
<|notimestamps|>). Saved with save_pretrained, it loads like any Whisper folder.

Random weights decode nothing useful (greedy decoding repeats one byte up to the token
limit), so a few weights are set so that the model's own output is a short line of words
that depends on the audio:

- the output projection (untied from the token embedding, which is zero: each step is shaped
  by its position and the sound) is zero except for the whole-word tokens and
  <|endoftext|>, so greedy decoding picks a word or ends the line; every language token
  scores alike, so language detection picks the first, <|en|>;
- dimension 0 carries an end-of-line ramp: <|endoftext|>'s output row points along it and
  the decoder's position embedding climbs along it, so the line ends after a few words;
- the encoder's convolutions are scaled up so that the sound, not the position embedding,
  shapes its states; the cross-attention's query and key projections are scaled up so that
  each step looks at a few frames, and its value and output projections pass those frames'
  states through, less the mean state of silence (what the feature extractor pads each clip
  to 30 s with): which words win depends on the sound (tests/test_prepare.py checks that
  windows of the test footage get different lines).
"""

from __future__ import annotations

from pathlib import Path

WORDS = ("hello", "world", "thank", "you", "seven", "eight", "nine", "ten", "morning", "every", "one", "desk")
D_MODEL = 16
CROSS_GAIN = 5.0
CONV_GAIN = 30.0
END_AT = 7.0
FOCUS = 30.0


def whisper_special_tokens() -> list[str]:
    """Whisper's special tokens in its order (<|startoftranscript|> right before the
    languages: WhisperTokenizer.prefix_tokens counts on it)."""
    from transformers.models.whisper.tokenization_whisper import LANGUAGES

    return ["<|endoftext|>", "<|startoftranscript|>", *(f"<|{code}|>" for code in LANGUAGES), "<|translate|>",
            "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nocaptions|>", "<|notimestamps|>"]


def _tokenizer():
    from tokenizers import AddedToken, pre_tokenizers
    from transformers import WhisperTokenizer

    vocab = {symbol: i for i, symbol in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    merges = []
    for word in WORDS:  # "Ġhello": Ġ+h, Ġh+e, ... (Ġ is the byte-level space)
        joined = "Ġ"
        for ch in word:
            if (joined, ch) not in merges:
                merges.append((joined, ch))
            joined += ch
            vocab.setdefault(joined, len(vocab))
    tokenizer = WhisperTokenizer(vocab=vocab, merges=merges)
    specials = whisper_special_tokens()
    tokenizer.add_special_tokens({"additional_special_tokens": [AddedToken(t, special=True, normalized=False)
                                                                for t in specials[1:]]})
    return tokenizer, [vocab["Ġ" + w] for w in WORDS]


def build_tiny_whisper(folder: Path, seed: int = 0) -> Path:
    """Write the tiny Whisper (config, safetensors weights, generation config, tokenizer and
    feature extractor) to ``folder``; returns it."""
    import numpy as np
    import torch
    from transformers import (
        GenerationConfig,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperProcessor,
    )
    from transformers.models.whisper.tokenization_whisper import LANGUAGES

    tokenizer, word_ids = _tokenizer()
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in whisper_special_tokens()}
    eot, sot = ids["<|endoftext|>"], ids["<|startoftranscript|>"]
    config = WhisperConfig(vocab_size=len(tokenizer), num_mel_bins=80, d_model=D_MODEL, encoder_layers=1,
                           decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2,
                           encoder_ffn_dim=32, decoder_ffn_dim=32, max_source_positions=1500,
                           max_target_positions=448, tie_word_embeddings=False, decoder_start_token_id=sot,
                           bos_token_id=eot, eos_token_id=eot, pad_token_id=eot, suppress_tokens=[],
                           begin_suppress_tokens=[])
    torch.manual_seed(seed)
    model = WhisperForConditionalGeneration(config).eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        decoder = model.model.decoder
        decoder.embed_tokens.weight.zero_()  # the line is shaped by the position and the sound alone
        head = model.proj_out.weight  # untied from the token embedding
        head.zero_()
        words = torch.randn(len(word_ids), D_MODEL - 1, generator=g)
        # rows that sum to zero: the final layer norm's mean (which the end-of-line ramp moves)
        # then shifts every word's score alike
        head[word_ids, 1:] = words - words.mean(1, keepdim=True)
        head[eot, 0] = 4.0
        positions = decoder.embed_positions.weight
        positions[:, 1:] = torch.randn(positions.shape[0], D_MODEL - 1, generator=g)
        positions[:, 0] = (torch.arange(positions.shape[0]) - END_AT) * 2.0
        encoder = model.model.encoder
        encoder.conv1.weight.mul_(CONV_GAIN)
        encoder.conv2.weight.mul_(CONV_GAIN)
        # the encoder's states of 30 s of silence (what the feature extractor pads every clip
        # with): the cross-attention takes their mean away
        silence = WhisperFeatureExtractor()(np.zeros(16000, np.float32), sampling_rate=16000,
                                            return_tensors="pt").input_features
        padding_state = encoder(silence).last_hidden_state[0].mean(0)
        cross = decoder.layers[0].encoder_attn
        cross.v_proj.weight.copy_(torch.eye(D_MODEL))
        cross.v_proj.bias.zero_()
        cross.out_proj.weight.copy_(torch.eye(D_MODEL) * CROSS_GAIN)
        cross.out_proj.bias.copy_(-CROSS_GAIN * padding_state)
        cross.q_proj.weight.mul_(FOCUS)  # sharp attention: a few frames per step, not the mean of 30 s
        cross.k_proj.weight.mul_(FOCUS)
    model.generation_config = GenerationConfig(
        decoder_start_token_id=sot, bos_token_id=eot, eos_token_id=eot, pad_token_id=eot, max_length=448,
        is_multilingual=True, lang_to_id={f"<|{c}|>": ids[f"<|{c}|>"] for c in LANGUAGES},
        task_to_id={"transcribe": ids["<|transcribe|>"], "translate": ids["<|translate|>"]},
        no_timestamps_token_id=ids["<|notimestamps|>"], suppress_tokens=[], begin_suppress_tokens=[])
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    WhisperProcessor(feature_extractor=WhisperFeatureExtractor(), tokenizer=tokenizer).save_pretrained(folder)
    return folder


class GreedyReader:
    """What the model in ``folder`` says, decoded by hand rather than by generate(): the Whisper
    prompt <|startoftranscript|><|en|><|transcribe|><|notimestamps|>, then the most likely token
    at each step until <|endoftext|> (at most 120)."""

    def __init__(self, folder: Path):
        from transformers import WhisperForConditionalGeneration, WhisperProcessor

        self.processor = WhisperProcessor.from_pretrained(folder)
        self.model = WhisperForConditionalGeneration.from_pretrained(folder).eval()
        tokenizer = self.processor.tokenizer
        self.prompt = [tokenizer.convert_tokens_to_ids(t) for t in
                       ("<|startoftranscript|>", "<|en|>", "<|transcribe|>", "<|notimestamps|>")]

    def __call__(self, wave_16k) -> tuple[str, float | None]:
        """The text for 16 kHz mono audio and the mean probability of its tokens (None without any)."""
        import numpy as np
        import torch

        tokenizer = self.processor.tokenizer
        features = self.processor(np.asarray(wave_16k, np.float32), sampling_rate=16000,
                                  return_tensors="pt").input_features
        chosen, probs = [], []
        with torch.no_grad():
            encoded = self.model.model.encoder(features).last_hidden_state
            for _ in range(120):
                logits = self.model(encoder_outputs=(encoded,),
                                    decoder_input_ids=torch.tensor([self.prompt + chosen])).logits[0, -1]
                step = int(logits.argmax())
                if step == tokenizer.eos_token_id:
                    break
                chosen.append(step)
                probs.append(float(torch.softmax(logits.double(), -1)[step]))
        text = tokenizer.decode(chosen, skip_special_tokens=True).strip()
        return text, (float(np.mean(probs)) if probs else None)
