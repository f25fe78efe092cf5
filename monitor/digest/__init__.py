"""The weekly digest: school weeks in the school's own timezone and when a digest is due
(`weeks`), term dates and holiday weeks (`holidays`), what a digest says (`content`) and its chart
(`chart`)."""
