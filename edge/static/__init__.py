"""Static weighing (source-enterprise weighbridges): stability, zero tracking, refusals."""
