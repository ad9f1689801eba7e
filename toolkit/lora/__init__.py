"""The trainer's LoRA network: the network (LoRA, DoRA, LoKr through peft), peft's patches and the LoRA to start from.

The LoRA file tools (`python -m toolkit.lora_tools`, the command at toolkit/'s top) are the
family's: extensions_built_in/diffusion_models/ltx2/lora_files/, reached through the registry.
"""
