"""LoRA files of any LTX-2 trainer: reading them into one form, and the tools that inspect, split, convert, merge and resize them (`python -m toolkit.lora_tools`)."""
