"""The LTX-2 LoRA file tools: any trainer's LTX-2 LoRA file read into one form, and the tools
that inspect, split, convert, merge and resize it (`python -m toolkit.lora_tools` reaches them
through the family registry: ModelFamily.lora_file_tools)."""
