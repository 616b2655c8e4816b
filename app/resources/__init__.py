"""The resources: each module holds one resource's model and its declaration; registry.py
lists them."""
