"""PyTorch trait generators (GEMCONT, ContIG, GIM, MRM and baselines); needs the torch extra.

Empty until the trait-generator issues (#6 onwards) land.
"""
