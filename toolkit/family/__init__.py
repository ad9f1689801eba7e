"""What a model family gives the trainer (its light and heavy halves), and the registry that finds the families.

A family is a package under extensions_built_in/diffusion_models/ (LTX-2's: ltx2/) with a
torch-free module `family.py` whose `FAMILY` is a `ModelFamily` (interface.py). toolkit/ reaches
a family only through `registry.py` (which imports that module by its computed name, as
ai-toolkit finds its extensions), never by an import of extensions_built_in.
"""
