"""Readers for the real recordings the models are trained and measured on.

Each reader takes the folder a user points it at (the converted NPZ files of one published dataset)
and returns typed records with their labels in physical units: PPG at its native rate, the
accelerometer in g, heart rate in bpm from the ECG (R-peaks), rhythm labels. Nothing is downloaded
and no data ships with the project; research-only sets say so in :data:`LICENCES`.
"""
