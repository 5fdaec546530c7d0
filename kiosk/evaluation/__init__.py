"""Accuracy and privacy evaluations over the shared face data sets."""
