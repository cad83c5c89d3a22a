"""The cost model: its pure core (cost.py), calibrations and model checks over journals
(calibrate.py), and advise (advise.py)."""
