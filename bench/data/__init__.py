"""The data: the record schema, the matrix, journals and Results, statistics, one formatting
module; the values derived from records (a cell's paired statistics, a case's baseline) live here."""
