"""The sweep: plan a matrix, estimate its cases, measure them (the timing protocol, traces,
races), keep every cell as a record."""
