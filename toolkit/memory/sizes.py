"""The released models' sizes the memory estimate and plan count with: the default family's
`real_sizes` (toolkit/family/interface.py; LTX-2's are extensions_built_in/diffusion_models/
ltx2/real_configs.py), under the names memory/ uses. The one place memory/ meets the family.
"""

from toolkit.family.registry import default_family

_REAL = default_family().real_sizes

VERSIONS, TRANSFORMER, CONNECTORS = _REAL.VERSIONS, _REAL.TRANSFORMER, _REAL.CONNECTORS
TRANSFORMER_PARAMS, BLOCK_PARAMS, CONNECTOR_PARAMS = _REAL.TRANSFORMER_PARAMS, _REAL.BLOCK_PARAMS, _REAL.CONNECTOR_PARAMS
TEXT_ENCODER_PARAMS, VOCODER_PARAMS = _REAL.TEXT_ENCODER_PARAMS, _REAL.VOCODER_PARAMS
VIDEO_VAE_PARAMS, VIDEO_VAE_ENCODER_PARAMS, AUDIO_VAE_PARAMS = (_REAL.VIDEO_VAE_PARAMS, _REAL.VIDEO_VAE_ENCODER_PARAMS,
                                                               _REAL.AUDIO_VAE_PARAMS)
VAE_SPATIAL, VAE_TEMPORAL, AUDIO_LATENTS_PER_S, TEXT_TOKENS = (_REAL.VAE_SPATIAL, _REAL.VAE_TEMPORAL,
                                                               _REAL.AUDIO_LATENTS_PER_S, _REAL.TEXT_TOKENS)
VIDEO_DIM, AUDIO_DIM, TEXT_DIM_IN = _REAL.VIDEO_DIM, _REAL.AUDIO_DIM, _REAL.TEXT_DIM_IN
version_of, transformer_config = _REAL.version_of, _REAL.transformer_config
