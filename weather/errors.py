"""The one exception type of the weather package."""


class WeatherError(ValueError):
    """Weather input that cannot be used: names the source, the variable and the first bad row."""

    def __init__(self, source: str, message: str, *, variable: str | None = None,
                 row: int | None = None, time=None):
        where = [f"{source}"]
        if variable:
            where.append(f"variable {variable!r}")
        if row is not None:
            where.append(f"row {row}")
        if time is not None:
            where.append(f"time {time} UTC")
        super().__init__(f"{', '.join(where)}: {message}")
        self.source, self.variable, self.row, self.time = source, variable, row, time
