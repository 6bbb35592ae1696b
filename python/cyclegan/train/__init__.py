"""Training: config (flags), recipe (one step), state (what a checkpoint holds), loop.

Importing the package is torch-free; `cyclegan.train.loop.train` runs a training.
"""
